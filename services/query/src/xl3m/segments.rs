//! Segments: the units XL3M scores, built from chunks.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::document::DocumentView;

/// A span of one document's canonical text that XL3M scores as a whole.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Segment {
    /// Document id.
    pub document_id: String,
    /// Document version the offsets refer to.
    pub version: i64,
    /// First character (inclusive) in the canonical text.
    pub char_start: usize,
    /// One past the last character.
    pub char_end: usize,
    /// Heading path of the segment's first chunk, top first.
    pub heading_path: Vec<String>,
    /// Pages the segment spans (1-based), when the page map covers it.
    pub pages: Option<(u32, u32)>,
    /// Ids of the chunks the segment was built from, in document order.
    pub chunk_ids: Vec<String>,
    /// Best retrieval rank among the candidates this segment contains (rerank mode).
    pub retrieval_rank: Option<usize>,
    /// The verbatim text `canonical[char_start..char_end]`.
    pub text: String,
}

impl Segment {
    /// The heading path rendered for prompts and traces.
    pub fn heading(&self) -> String {
        self.heading_path.join(" › ")
    }
}

/// How segments are cut from chunks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SegmentOptions {
    /// Target size in (embedder) tokens: a chunk is widened with neighbours of the
    /// same section until adding one more would exceed it.
    pub segment_tokens: usize,
    /// Characters added on each side, so text cut at a boundary is seen twice.
    pub overlap_chars: usize,
}

/// Segments around retrieved chunks (rerank mode), in the order of `candidates`.
///
/// `candidates` are `(document id, chunk id, retrieval rank)`. Each chunk is widened
/// within its section (neighbours with the same heading path, alternating after and
/// before) up to the target size. A candidate already inside an earlier candidate's
/// segment adds nothing. Candidates whose document or chunk is missing from `views`
/// are skipped.
pub fn around_candidates(
    views: &HashMap<String, DocumentView>,
    candidates: &[(String, String, usize)],
    options: SegmentOptions,
) -> Vec<Segment> {
    let mut segments: Vec<Segment> = Vec::new();
    for (document_id, chunk_id, rank) in candidates {
        let Some(view) = views.get(document_id) else {
            continue;
        };
        if let Some(existing) = segments
            .iter_mut()
            .find(|s| s.document_id == *document_id && s.chunk_ids.contains(chunk_id))
        {
            existing.retrieval_rank = existing.retrieval_rank.min(Some(*rank)).or(Some(*rank));
            continue;
        }
        let Some(index) = view.chunks.iter().position(|c| c.id == *chunk_id) else {
            continue;
        };
        let (first, last) = widen(view, index, options.segment_tokens);
        segments.push(build(view, first, last, options.overlap_chars, Some(*rank)));
    }
    segments
}

/// Segments tiling a whole document (single-document mode), in document order:
/// consecutive chunks are grouped up to the target size, whatever their section.
pub fn tile_document(view: &DocumentView, options: SegmentOptions) -> Vec<Segment> {
    let mut segments = Vec::new();
    let mut first = 0;
    while first < view.chunks.len() {
        let mut last = first;
        let mut tokens = token_count(view, first);
        while last + 1 < view.chunks.len()
            && tokens + token_count(view, last + 1) <= options.segment_tokens
        {
            last += 1;
            tokens += token_count(view, last);
        }
        segments.push(build(view, first, last, options.overlap_chars, None));
        first = last + 1;
    }
    segments
}

fn token_count(view: &DocumentView, index: usize) -> usize {
    usize::try_from(view.chunks[index].token_count.max(1)).unwrap_or(1)
}

/// Grows `[index, index]` with same-section neighbours while under `target` tokens.
fn widen(view: &DocumentView, index: usize, target: usize) -> (usize, usize) {
    let heading = &view.chunks[index].heading_path;
    let same_section = |i: usize| view.chunks[i].heading_path == *heading;
    let (mut first, mut last) = (index, index);
    let mut tokens = token_count(view, index);
    loop {
        let mut grew = false;
        if last + 1 < view.chunks.len()
            && same_section(last + 1)
            && tokens + token_count(view, last + 1) <= target
        {
            last += 1;
            tokens += token_count(view, last);
            grew = true;
        }
        if first > 0 && same_section(first - 1) && tokens + token_count(view, first - 1) <= target {
            first -= 1;
            tokens += token_count(view, first);
            grew = true;
        }
        if !grew {
            return (first, last);
        }
    }
}

fn build(
    view: &DocumentView,
    first: usize,
    last: usize,
    overlap: usize,
    retrieval_rank: Option<usize>,
) -> Segment {
    let start = usize::try_from(view.chunks[first].char_start).unwrap_or(0);
    let end = usize::try_from(view.chunks[last].char_end).unwrap_or(start);
    let (start, end) = with_overlap(view, start, end, overlap);
    let pages = match (view.page_of(start), view.page_of(end.saturating_sub(1))) {
        (Some(a), Some(b)) => Some((a, b)),
        _ => None,
    };
    Segment {
        document_id: view.document_id.clone(),
        version: view.version,
        char_start: start,
        char_end: end,
        heading_path: view.chunks[first].heading_path.clone(),
        pages,
        chunk_ids: view.chunks[first..=last]
            .iter()
            .map(|c| c.id.clone())
            .collect(),
        retrieval_rank,
        text: view.slice(start, end).to_string(),
    }
}

/// Extends `[start, end)` by `overlap` chars on each side, then pulls each new edge
/// to a word boundary so the overlap never starts or ends mid-word.
fn with_overlap(view: &DocumentView, start: usize, end: usize, overlap: usize) -> (usize, usize) {
    if overlap == 0 {
        return (start, end);
    }
    let len = view.char_len();
    let mut new_start = start.saturating_sub(overlap);
    let mut new_end = (end + overlap).min(len);
    if new_start < start {
        let before: Vec<char> = view.slice(new_start, start).chars().collect();
        if let Some(space) = before.iter().position(|c| c.is_whitespace()) {
            new_start += space + 1;
        } else {
            new_start = start;
        }
    }
    if new_end > end {
        let after: Vec<char> = view.slice(end, new_end).chars().collect();
        if let Some(space) = after.iter().rposition(|c| c.is_whitespace()) {
            new_end = end + space;
        } else {
            new_end = end;
        }
    }
    (new_start.min(start), new_end.max(end))
}
