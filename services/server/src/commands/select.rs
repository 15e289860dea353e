//! `folio select`: the XL3M key context for a question, with every segment's scores.

use std::sync::Arc;

use anyhow::Result;
use folio_app::Runtime;

use super::args;

pub async fn run(runtime: Runtime, args: args::SelectArgs) -> Result<()> {
    use folio_query::context::SelectionScope;
    let builder =
        folio_app::ask::context_builder(&runtime, folio_app::ask::scorer(&runtime).await?);
    let tenant = runtime.tenant.id.clone();
    let scope = if args.whole_document {
        let [document_id] = args.documents.as_slice() else {
            anyhow::bail!("--whole-document needs exactly one --doc");
        };
        SelectionScope::Document {
            tenant,
            document_id: document_id.clone(),
        }
    } else {
        let collection_ids =
            folio_app::collections::resolve_ids(&runtime, &tenant, &args.collections).await?;
        SelectionScope::Retrieved {
            filter: folio_index::SearchFilter::tenant(tenant)
                .with_collections(collection_ids)
                .with_documents(args.documents.clone()),
        }
    };
    let bar = indicatif::ProgressBar::new(0);
    if args.json {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let progress_bar = bar.clone();
    let progress: folio_query::context::ProgressFn = Arc::new(move |done, total| {
        progress_bar.set_length(total as u64);
        progress_bar.set_position(done as u64);
    });
    let context = builder
        .build(&args.question, scope, Some(progress))
        .await
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    bar.finish_and_clear();
    if args.json {
        println!("{}", serde_json::to_string_pretty(&context)?);
        return Ok(());
    }
    let selection = &context.selection;
    println!(
        "{:>4} {:>4} {:>9} {:>8} {:>8} {:>6} {:>6}  section (chars)",
        "rank", "kept", "score", "entropy", "nll", "tokens", "ret#"
    );
    for trace in &selection.segments {
        let fmt = |v: Option<f32>| v.map_or_else(|| "-".to_string(), |v| format!("{v:.4}"));
        println!(
            "{:>4} {:>4} {:>9} {:>8} {:>8} {:>6} {:>6}  {} ({}..{})",
            trace.rank,
            if trace.kept { "yes" } else { "" },
            fmt(trace.score),
            fmt(trace.scores.map(|s| s.entropy)),
            fmt(trace.scores.map(|s| s.nll)),
            trace.tokens,
            trace
                .segment
                .retrieval_rank
                .map_or_else(|| "-".to_string(), |r| r.to_string()),
            trace.segment.heading(),
            trace.segment.char_start,
            trace.segment.char_end
        );
    }
    if let Some(reason) = &context.fallback {
        println!("note: {reason}");
    }
    println!(
        "\nbaseline (no segment): entropy {:.4}, nll {:.4}; {} tokens scored in {:.1} s; {} unscored",
        selection.baseline.entropy,
        selection.baseline.nll,
        selection.tokens_scored,
        selection.scoring_ms / 1000.0,
        selection.unscored
    );
    println!(
        "\n--- key context ({} tokens) ---\n{}",
        selection.context_tokens, selection.key_context
    );
    Ok(())
}
