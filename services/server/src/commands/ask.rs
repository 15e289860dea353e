//! `folio ask`: a cited answer, streamed to the terminal as it is written.

use std::io::Write;

use anyhow::Result;
use folio_query::answer::{Answer, AskEvent};

use folio_app::ask::{self, AskInput};
use folio_app::Runtime;

use super::args::AskArgs;

/// Runs one question and prints the answer, its citations and (on request) the trace.
pub async fn run(runtime: Runtime, args: AskArgs) -> Result<()> {
    let input = AskInput {
        question: args.question.clone(),
        documents: args.documents.clone(),
        collections: args.collections.clone(),
        pipeline: args.pipeline.clone(),
    };
    // Resolved before the models load, so a refused question costs nothing.
    let request = ask::prepare(&runtime, &runtime.tenant.id, &input).await?;
    let answerer = ask::answerer(&runtime).await?;
    // Progress is printed as it comes; with --json nothing listens, so none is sent
    // (a closed channel would cancel generation).
    let (sender, printer) = if args.json {
        (None, None)
    } else {
        let (sender, mut receiver) = tokio::sync::mpsc::unbounded_channel();
        let printer = tokio::spawn(async move {
            let mut stdout = std::io::stdout();
            while let Some(event) = receiver.recv().await {
                match event {
                    AskEvent::Stage(stage) => eprintln!("· {stage}"),
                    AskEvent::Text(text) => {
                        let _ = write!(stdout, "{text}");
                        let _ = stdout.flush();
                    }
                }
            }
        });
        (Some(sender), Some(printer))
    };
    let answer = answerer.ask(&request, sender).await?;
    if let Some(printer) = printer {
        printer.await?;
    }
    if args.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&ask::answer_json(&answer, args.trace))?
        );
        return Ok(());
    }
    println!();
    print_citations(&answer);
    if args.trace {
        println!("\nTrace:\n{}", serde_json::to_string_pretty(&answer.trace)?);
    }
    Ok(())
}

fn print_citations(answer: &Answer) {
    if answer.citations.is_empty() {
        println!("(no citations)");
    } else {
        println!("\nCitations:");
    }
    for c in &answer.citations {
        let section = if c.section_path.is_empty() {
            String::new()
        } else {
            format!(" › {}", c.section_path.join(" › "))
        };
        let page = c.page.map(|p| format!(", p. {p}")).unwrap_or_default();
        let quote = folio_query::alr2::one_line(&c.quote);
        let short: String = quote.chars().take(240).collect();
        let ellipsis = if short.len() < quote.len() { "…" } else { "" };
        println!(
            "[{}] {}{section}, chars {}–{}{page}\n    \"{short}{ellipsis}\"",
            c.marker, c.document_name, c.char_start, c.char_end
        );
    }
    println!(
        "\n{} · {} · {:.1} s · {} prompt + {} generated tokens",
        answer.pipeline,
        answer.model,
        answer.timings.total_s,
        answer.prompt_tokens,
        answer.completion_tokens
    );
}
