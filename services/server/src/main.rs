//! `folio`: the all-in-one binary (server, CLI, benchmarks).

use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{Context, Result};
use clap::Parser;
use folio_common::config::FolioConfig;
use tokio::sync::{watch, Notify};

use folio_server::cli::{AdminCommand, Cli, Command, DocsCommand, ModelsCommand};
use folio_server::runtime::Runtime;
use folio_server::{
    admin_cmd, answering, ask_cmd, auth, backup, bench, cli, docs, eval, http, ingest_cmd, llm,
    metrics, models, runtime, search, telemetry,
};

fn load_config(cli: &Cli) -> Result<FolioConfig> {
    let mut config = FolioConfig::load(cli.config.as_deref())?;
    if let Some(dir) = &cli.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(dir) = &cli.models_dir {
        config.models.dir = dir.clone();
    }
    if let Some(url) = &cli.store_url {
        config.store.url = url.clone();
    }
    Ok(config)
}

fn main() -> Result<ExitCode> {
    let cli = Cli::parse();
    if let Command::ParseChild { request } = &cli.command {
        // Before config, logging or the async runtime: the parser process
        // does one thing, in one thread, under its parent's limits.
        let code = folio_ingest::parse::serve_child(
            request,
            std::io::stdin().lock(),
            std::io::stdout().lock(),
        );
        std::process::exit(code);
    }
    let mut config = load_config(&cli)?;
    let telemetry = telemetry::init(cli.log_format, &config.telemetry)?;
    if let Command::Openapi = &cli.command {
        print!("{}", http::render_openapi());
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Models(command) = &cli.command {
        return models_command(&config, command).map(|()| ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(args) => {
                if let Some(bind) = args.bind {
                    config.server.bind = bind;
                }
                if let Some(workers) = args.workers {
                    config.ingest.workers = workers;
                }
                if let Some(role) = args.role {
                    config.server.role = role;
                }
                serve(config).await
            }
            Command::Ingest(args) => ingest_cmd::run(Runtime::open(config).await?, args).await,
            Command::Docs(command) => docs_command(Runtime::open(config).await?, command).await,
            Command::Bench(command) => bench::run(config, command).await,
            Command::Search(args) => search_command(Runtime::open(config).await?, args).await,
            Command::Ask(args) => ask_cmd::run(Runtime::open(config).await?, args).await,
            Command::Eval(args) => eval::run(config, args).await,
            Command::Select(args) => select_command(Runtime::open(config).await?, args).await,
            Command::Admin(AdminCommand::Backup { to, pg_bin_dir }) => {
                backup::backup(&config, &to, pg_bin_dir.as_deref()).await
            }
            Command::Admin(AdminCommand::Restore {
                from,
                force,
                pg_bin_dir,
            }) => backup::restore(config, &from, force, pg_bin_dir.as_deref()).await,
            Command::Admin(AdminCommand::Reindex) => backup::reindex(&Runtime::open(config).await?)
                .await
                .map(drop),
            Command::Admin(command) => admin_cmd::run(&config, command).await,
            Command::Models(_) | Command::Openapi | Command::ParseChild { .. } => {
                unreachable!("handled before the runtime starts")
            }
        }
    });
    drop(runtime);
    telemetry.shutdown();
    match result {
        Err(e) if e.is::<ingest_cmd::DocumentsNotIngested>() => {
            eprintln!("Error: {e}");
            Ok(ExitCode::from(ingest_cmd::DocumentsNotIngested::EXIT_CODE))
        }
        other => other.map(|()| ExitCode::SUCCESS),
    }
}

fn models_command(config: &FolioConfig, command: &ModelsCommand) -> Result<()> {
    match command {
        ModelsCommand::Fetch { force, with } => {
            for line in models::fetch(&config.models.dir, *force)? {
                println!("{line}");
            }
            for name in with {
                println!(
                    "{}",
                    models::fetch_optional(&config.models.dir, name, *force)?
                );
            }
            println!("models are in {}", config.models.dir.display());
        }
        ModelsCommand::Check => {
            let mut missing = 0;
            for (file, ok) in models::check(&config.models.dir) {
                println!("{}  {}", if ok { "ok     " } else { "MISSING" }, file);
                missing += usize::from(!ok);
            }
            if missing > 0 {
                anyhow::bail!(
                    "{missing} model file(s) missing or corrupt: run `folio models fetch`"
                );
            }
        }
    }
    Ok(())
}

async fn serve(config: FolioConfig) -> Result<()> {
    let bind = config.server.bind.clone();
    let role = runtime::ServeRole::parse(&config.server.role)?;
    let workers = if role.runs_workers() {
        config.ingest.workers.max(1)
    } else {
        0
    };
    let runtime = Runtime::open(config).await?;
    runtime.recover().await?;
    runtime.spawn_upload_sweeper();
    let wake = Arc::new(Notify::new());
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let metrics = Arc::new(metrics::Metrics::default());
    let mut worker_tasks = Vec::new();
    for slot in 0..workers {
        let worker = folio_ingest::worker::Worker::new(
            runtime.pipeline.clone(),
            format!("{}-{}-{slot}", hostname(), std::process::id()),
            wake.clone(),
        )
        .observed_by(metrics.job_observer());
        worker_tasks.push(tokio::spawn(worker.run_forever(shutdown_rx.clone())));
    }
    if role.serves_api() && runtime.config.server.auth {
        bootstrap_admin_key(&runtime).await?;
    }
    if role.serves_api() && runtime.config.server.preload_models {
        let runtime = runtime.clone();
        tokio::spawn(async move {
            match answering::shared_answerer(&runtime).await {
                Ok(_) => tracing::info!("answering models loaded"),
                Err(e) => {
                    tracing::warn!(error = %e.message, "answering models did not load; questions will retry")
                }
            }
        });
    }
    let state = http::AppState::new(runtime.clone(), wake, metrics);
    let app = if role.serves_api() {
        http::router(state)
    } else {
        http::health_router(state)
    };
    let listener = tokio::net::TcpListener::bind(&bind)
        .await
        .with_context(|| format!("binding {bind}"))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, role = role.as_str(), workers, llm = ?runtime.llm.as_ref().map(|m| &m.architecture), "folio is serving");
    println!("folio listening on http://{local}");
    // After the signal, open requests and answer streams get a grace period to
    // finish; past it they are ended so the process always exits.
    let (stopping_tx, mut stopping_rx) = watch::channel(false);
    let server = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown_signal().await;
        tracing::info!(
            grace_secs = SHUTDOWN_GRACE.as_secs(),
            "shutting down: finishing open requests"
        );
        let _ = stopping_tx.send(true);
    });
    let grace = async move {
        let _ = stopping_rx.wait_for(|stopping| *stopping).await;
        tokio::time::sleep(SHUTDOWN_GRACE).await;
    };
    tokio::select! {
        result = server => result?,
        () = grace => tracing::warn!("grace period over: ending the requests still open"),
    }
    let _ = shutdown_tx.send(true);
    for task in worker_tasks {
        let _ = task.await;
    }
    Ok(())
}

/// Prints a new admin key on the first start of a store that never had a key.
/// A store whose keys were all revoked gets none: whoever revoked them meant it,
/// and a key printed to a log anyone can read would undo that.
async fn bootstrap_admin_key(runtime: &Runtime) -> Result<()> {
    if runtime.store.api_key_count().await? > 0 {
        if runtime.store.active_api_key_count().await? == 0 {
            tracing::warn!(
                "every API key is revoked, so no request can authenticate; create one with `folio admin key create --role admin`"
            );
        }
        return Ok(());
    }
    let issued = auth::issue_key(
        &runtime.store,
        &runtime.tenant.id,
        auth::Role::Admin,
        "bootstrap",
    )
    .await?;
    println!(
        "No API key existed, so an admin key for tenant \"{}\" was created. It is shown only now:\n\n    {}\n\nSign in to the web UI with it, or send `Authorization: Bearer <key>`. More keys: `folio admin key create --role viewer|editor|admin`.",
        runtime.tenant.name, issued.key
    );
    Ok(())
}

/// How long open requests may run on after a shutdown signal.
const SHUTDOWN_GRACE: std::time::Duration = std::time::Duration::from_secs(30);

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}

fn hostname() -> String {
    std::fs::read_to_string("/etc/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "folio".into())
}

async fn docs_command(runtime: Runtime, command: DocsCommand) -> Result<()> {
    let tenant = runtime.tenant.id.clone();
    match command {
        DocsCommand::List { collection, json } => {
            let collection_id = match collection {
                Some(name) => Some(
                    runtime
                        .store
                        .find_collection(&tenant, &name)
                        .await?
                        .with_context(|| format!("no collection named {name}"))?
                        .id,
                ),
                None => None,
            };
            let documents = runtime
                .store
                .list_documents(&tenant, collection_id.as_deref())
                .await?;
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
            let text = docs::document_text(&runtime, &tenant, &id)
                .await
                .map_err(|e| anyhow::anyhow!(e.message))?;
            if json {
                println!("{}", serde_json::to_string_pretty(&text)?);
            } else {
                print!("{}", text.text);
            }
        }
        DocsCommand::Chunks { id, json } => {
            runtime.store.get_document(&tenant, &id).await?;
            let chunks = runtime.store.document_chunks(&tenant, &id).await?;
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
            runtime.store.request_delete(&tenant, &id).await?;
            let worker = folio_ingest::worker::Worker::new(
                runtime.pipeline.clone(),
                "cli",
                Arc::new(Notify::new()),
            );
            worker.drain().await?;
            println!("deleted {id}");
        }
    }
    Ok(())
}

async fn search_command(runtime: Runtime, args: cli::SearchArgs) -> Result<()> {
    use folio_query::retrieve::RetrievalMode;
    let mode = match args.mode {
        cli::SearchMode::Hybrid => RetrievalMode::Hybrid,
        cli::SearchMode::Bm25 => RetrievalMode::Bm25,
        cli::SearchMode::Dense => RetrievalMode::Dense,
    };
    let params = search::SearchParams {
        query: args.query,
        documents: args.documents,
        collections: args.collections,
        limit: Some(args.limit),
        mode: Some(mode),
    };
    let results = search::search(&runtime, &runtime.tenant.id, params)
        .await
        .map_err(|e| anyhow::anyhow!("[{}] {}", e.code, e.message))?;
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

async fn select_command(runtime: Runtime, args: cli::SelectArgs) -> Result<()> {
    use folio_query::context::{ContextBuilder, SelectionScope};
    let model = llm::load_scoring_model(&runtime.config)?;
    let builder = ContextBuilder::new(
        runtime.retriever.clone(),
        runtime.store.clone(),
        runtime.blobs.clone(),
        model,
        runtime.config.xl3m.clone(),
    );
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
        let collection_ids = search::resolve_collections(&runtime, &tenant, &args.collections)
            .await
            .map_err(|e| anyhow::anyhow!("[{}] {}", e.code, e.message))?;
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
