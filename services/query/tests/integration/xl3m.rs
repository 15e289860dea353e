//! XL3M segment building on real ingested documents.

use std::collections::HashMap;

use folio_query::document::DocumentView;
use folio_query::xl3m::{around_candidates, tile_document, SegmentOptions};

use crate::common::{Stack, CONTRACT};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn segments_are_exact_spans_that_stay_in_their_section() {
    let stack = Stack::new().await;
    let doc = stack.ingest("acme", "contracts", "msa.md", CONTRACT).await;
    let view = DocumentView::load(&stack.store, &stack.blobs, &doc.tenant, &doc.document)
        .await
        .unwrap();
    assert!(view.chunks.len() >= 4, "{} chunks", view.chunks.len());
    let views = HashMap::from([(doc.document.clone(), view.clone())]);

    let options = SegmentOptions {
        segment_tokens: 1000,
        overlap_chars: 0,
    };
    // Every chunk as a candidate: each segment is its section (widened up to the
    // target), so candidates of the same section collapse into one segment.
    let candidates: Vec<(String, String, usize)> = view
        .chunks
        .iter()
        .enumerate()
        .map(|(i, c)| (doc.document.clone(), c.id.clone(), i + 1))
        .collect();
    let segments = around_candidates(&views, &candidates, options);
    let sections: std::collections::HashSet<Vec<String>> =
        view.chunks.iter().map(|c| c.heading_path.clone()).collect();
    assert_eq!(segments.len(), sections.len());
    for segment in &segments {
        assert_eq!(segment.text, view.slice(segment.char_start, segment.char_end));
        for id in &segment.chunk_ids {
            let chunk = view.chunks.iter().find(|c| &c.id == id).unwrap();
            assert_eq!(chunk.heading_path, segment.heading_path);
        }
    }

    // Overlap widens a segment on word boundaries and never past the text.
    let with_overlap = around_candidates(
        &views,
        &candidates[..1],
        SegmentOptions {
            segment_tokens: 1,
            overlap_chars: 30,
        },
    );
    let plain = around_candidates(
        &views,
        &candidates[..1],
        SegmentOptions {
            segment_tokens: 1,
            overlap_chars: 0,
        },
    );
    assert!(with_overlap[0].char_end > plain[0].char_end);
    assert!(with_overlap[0].char_end <= view.char_len());
    let after: String = view
        .slice(with_overlap[0].char_end, with_overlap[0].char_end + 1)
        .to_string();
    assert!(
        after.is_empty() || after.chars().all(char::is_whitespace),
        "overlap ends mid-word before {after:?}"
    );

    // Tiling covers every chunk exactly once, in order.
    let tiles = tile_document(
        &view,
        SegmentOptions {
            segment_tokens: 80,
            overlap_chars: 20,
        },
    );
    let tiled: Vec<&String> = tiles.iter().flat_map(|s| &s.chunk_ids).collect();
    let all: Vec<&String> = view.chunks.iter().map(|c| &c.id).collect();
    assert_eq!(tiled, all);
    for pair in tiles.windows(2) {
        assert!(pair[0].char_start <= pair[1].char_start);
    }
}
