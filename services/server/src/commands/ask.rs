//! `folio ask`: a cited answer, streamed to the terminal as it is written.

use std::io::Write;

use anyhow::Result;
use folio_query::answer::Answer;
use futures::{Stream, StreamExt};

use folio_app::ask::{self, AnswerUpdate, AskInput};
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
    let answer = if args.json {
        answerer.ask(&request, None).await?
    } else {
        print_as_it_comes(ask::answer_stream(answerer, request, ())).await?
    };
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

/// Prints stages (stderr) and the answer's text (stdout) as they come; the
/// answer once it is complete.
async fn print_as_it_comes(updates: impl Stream<Item = AnswerUpdate>) -> Result<Answer> {
    let mut updates = std::pin::pin!(updates);
    let mut stdout = std::io::stdout();
    while let Some(update) = updates.next().await {
        match update {
            AnswerUpdate::Stage(stage) => eprintln!("· {stage}"),
            AnswerUpdate::Text(text) => {
                let _ = write!(stdout, "{text}");
                let _ = stdout.flush();
            }
            AnswerUpdate::Done(answer) => return Ok(*answer),
            AnswerUpdate::Failed(error) => return Err(error.into()),
        }
    }
    anyhow::bail!("the answer stopped before it was complete")
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
