//! `folio serve`: the HTTP API, the web UI and the ingestion workers.

use std::sync::Arc;

use anyhow::{Context, Result};
use folio_app::keys::{issue_key, Role};
use folio_app::Runtime;
use folio_common::config::FolioConfig;
use folio_server::{http, metrics};
use tokio::sync::watch;

pub async fn run(config: FolioConfig) -> Result<()> {
    let bind = config.server.bind.clone();
    let role = config.server.role;
    let workers = if role.runs_workers() {
        config.ingest.workers.max(1)
    } else {
        0
    };
    let runtime = Runtime::open(config).await?;
    runtime.recover().await?;
    runtime.spawn_upload_sweeper();
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let metrics = Arc::new(metrics::Metrics::default());
    let mut worker_tasks = Vec::new();
    for slot in 0..workers {
        let worker = folio_ingest::worker::Worker::new(
            runtime.pipeline.clone(),
            format!("{}-{}-{slot}", hostname(), std::process::id()),
            runtime.wake.clone(),
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
            match folio_app::ask::answerer(&runtime).await {
                Ok(_) => tracing::info!("answering models loaded"),
                Err(e) => {
                    tracing::warn!(error = %e, "answering models did not load; questions will retry")
                }
            }
        });
    }
    let state = http::AppState::new(runtime.clone(), metrics);
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
    let issued = issue_key(&runtime.store, &runtime.tenant.id, Role::Admin, "bootstrap").await?;
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
