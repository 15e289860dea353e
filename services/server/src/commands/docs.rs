//! `folio docs list|text|chunks|delete`.

use anyhow::Result;
use folio_app::{documents, Runtime};
use folio_store::Page;

use super::args::DocsCommand;

pub async fn run(runtime: Runtime, command: DocsCommand) -> Result<()> {
    let tenant = runtime.tenant.id.clone();
    match command {
        DocsCommand::List { collection, json } => {
            let documents = documents::list(&runtime, &tenant, collection.as_deref(), Page::ALL)
                .await?
                .items;
            if json {
                println!("{}", serde_json::to_string_pretty(&documents)?);
            } else {
                println!(
                    "{:<36}  {:<10}  {:>7}  {:>6}  {:>6}  name",
                    "id", "status", "version", "pages", "chunks"
                );
                for d in documents {
                    println!(
                        "{:<36}  {:<10}  {:>7}  {:>6}  {:>6}  {}{}",
                        d.id,
                        d.status.as_str(),
                        d.current_version
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "-".into()),
                        d.page_count
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "-".into()),
                        d.chunk_count
                            .map(|v| v.to_string())
                            .unwrap_or_else(|| "-".into()),
                        d.name,
                        d.error
                            .map(|e| format!("  [{}: {}]", e.code, e.message))
                            .unwrap_or_default()
                    );
                }
            }
        }
        DocsCommand::Text { id, json } => {
            let (source, text) = documents::text(&runtime, &tenant, &id).await?;
            if json {
                let body = serde_json::json!({
                    "document_id": source.document_id,
                    "version": source.version,
                    "text": text,
                    "structure": source.structure,
                });
                println!("{}", serde_json::to_string_pretty(&body)?);
            } else {
                print!("{text}");
            }
        }
        DocsCommand::Chunks { id, json } => {
            let (_, chunks) = documents::chunks(&runtime, &tenant, &id).await?;
            if json {
                println!("{}", serde_json::to_string_pretty(&chunks)?);
            } else {
                for c in chunks {
                    println!(
                        "#{:<4} chars {}..{}  pages {}-{}  {} tokens  {}",
                        c.ordinal,
                        c.char_start,
                        c.char_end,
                        c.page_start,
                        c.page_end,
                        c.token_count,
                        c.heading_path.join(" › ")
                    );
                }
            }
        }
        DocsCommand::Delete { id } => {
            documents::delete(&runtime, &tenant, &id).await?;
            let worker = folio_ingest::worker::Worker::new(
                runtime.pipeline.clone(),
                "cli",
                runtime.wake.clone(),
            );
            worker.drain().await?;
            println!("deleted {id}");
        }
    }
    Ok(())
}
