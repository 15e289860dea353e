//! `folio search`: ranked chunks, as `POST /v1/search` returns them.

use anyhow::Result;
use folio_app::search::{self, SearchInput};
use folio_app::Runtime;

use super::args;

pub async fn run(runtime: Runtime, args: args::SearchArgs) -> Result<()> {
    use folio_query::retrieve::RetrievalMode;
    let mode = match args.mode {
        args::SearchMode::Hybrid => RetrievalMode::Hybrid,
        args::SearchMode::Bm25 => RetrievalMode::Bm25,
        args::SearchMode::Dense => RetrievalMode::Dense,
    };
    let input = SearchInput {
        query: args.query,
        documents: args.documents,
        collections: args.collections,
        limit: Some(args.limit),
        mode: Some(mode),
    };
    let results = search::search(&runtime, &runtime.tenant.id, input).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&results)?);
        return Ok(());
    }
    let rank_of = |r: Option<folio_query::retrieve::RetrieverRank>| {
        r.map_or_else(|| "-".to_string(), |r| r.rank.to_string())
    };
    for candidate in &results.candidates {
        let chunk = &candidate.chunk;
        let snippet: String = chunk
            .text
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ")
            .chars()
            .take(160)
            .collect();
        println!(
            "{:>3}. {:.4}  bm25 #{:<3} dense #{:<3} {} chars {}..{} p.{}\n     {}\n     {}",
            candidate.rank,
            candidate.score,
            rank_of(candidate.bm25),
            rank_of(candidate.dense),
            chunk.document_id,
            chunk.char_start,
            chunk.char_end,
            chunk.page_start,
            chunk.heading_path.join(" › "),
            snippet
        );
    }
    println!(
        "{} results in {:.1} ms (embed {:.1}, bm25 {:.1}, dense {:.1}, rows {:.1})",
        results.candidates.len(),
        results.timings.total_ms,
        results.timings.embed_ms,
        results.timings.bm25_ms,
        results.timings.dense_ms,
        results.timings.fetch_ms
    );
    Ok(())
}
