//! `folio`: the all-in-one binary (server, CLI, benchmarks).

mod commands;

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use folio_app::{backup, Runtime};
use folio_common::config::{FolioConfig, Override};
use folio_server::{http, telemetry};

use commands::args::{AdminCommand, Cli, Command};

/// The configuration with the command line as its top layer: the named flags
/// first, then `--set` in order, so an explicit `--set` has the last word.
fn load_config(cli: &Cli) -> Result<FolioConfig> {
    // Configuration values are text; a path that is not UTF-8 is refused, not
    // silently turned into another path.
    let path = |p: &std::path::Path| {
        p.to_str()
            .map(str::to_string)
            .with_context(|| format!("{} is not a UTF-8 path", p.display()))
    };
    let mut overrides = Vec::new();
    if let Some(dir) = &cli.data_dir {
        overrides.push(Override::text("data_dir", path(dir)?));
    }
    if let Some(dir) = &cli.models_dir {
        overrides.push(Override::text("models.dir", path(dir)?));
    }
    if let Some(url) = &cli.store_url {
        overrides.push(Override::text("store.url", url.clone()));
    }
    if let Command::Serve(args) = &cli.command {
        if let Some(bind) = &args.bind {
            overrides.push(Override::text("server.bind", bind.clone()));
        }
        if let Some(workers) = args.workers {
            overrides.push(Override::number("ingest.workers", workers));
        }
        if let Some(role) = args.role {
            overrides.push(Override::text("server.role", role.to_string()));
        }
    }
    overrides.extend(cli.settings.iter().cloned());
    Ok(FolioConfig::load_with(cli.config.as_deref(), &overrides)?)
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
    let config = load_config(&cli)?;
    let telemetry = telemetry::init(cli.log_format, &config.telemetry)?;
    if let Command::Openapi = &cli.command {
        print!("{}", http::render_openapi());
        return Ok(ExitCode::SUCCESS);
    }
    if let Command::Models(command) = &cli.command {
        return commands::models::run(&config, command).map(|()| ExitCode::SUCCESS);
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let result = runtime.block_on(async move {
        match cli.command {
            Command::Serve(_) => commands::serve::run(config).await,
            Command::Ingest(args) => {
                commands::ingest::run(Runtime::open(config).await?, args).await
            }
            Command::Docs(command) => {
                commands::docs::run(Runtime::open(config).await?, command).await
            }
            Command::Bench(command) => folio_eval::bench::run(config, command).await,
            Command::Search(args) => {
                commands::search::run(Runtime::open(config).await?, args).await
            }
            Command::Ask(args) => commands::ask::run(Runtime::open(config).await?, args).await,
            Command::Eval(args) => folio_eval::retrieval::run(config, args).await,
            Command::Select(args) => {
                commands::select::run(Runtime::open(config).await?, args).await
            }
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
            Command::Admin(command) => commands::admin::run(&config, command).await,
            Command::Models(_) | Command::Openapi | Command::ParseChild { .. } => {
                unreachable!("handled before the runtime starts")
            }
        }
    });
    drop(runtime);
    telemetry.shutdown();
    match result {
        Err(e) if e.is::<commands::ingest::DocumentsNotIngested>() => {
            eprintln!("Error: {e}");
            Ok(ExitCode::from(
                commands::ingest::DocumentsNotIngested::EXIT_CODE,
            ))
        }
        Err(e) => match e
            .chain()
            .find_map(|c| c.downcast_ref::<folio_app::AppError>())
        {
            // A refused request reads as the API reports it: `[code] message`.
            Some(refusal) => {
                eprintln!(
                    "Error: [{}] {e:#}",
                    folio_server::error_codes::of(refusal).name
                );
                Ok(ExitCode::FAILURE)
            }
            None => Err(e),
        },
        Ok(()) => Ok(ExitCode::SUCCESS),
    }
}
