//! Logs (text or JSON lines on stderr) and, when configured, OpenTelemetry
//! trace export over OTLP/HTTP: every request span (with its request id) and
//! what runs inside it become spans at the collector.

use anyhow::{Context, Result};
use folio_common::config::TelemetryConfig;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::trace::SdkTracerProvider;
use opentelemetry_sdk::Resource;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

/// Owns the trace exporter, so buffered spans can be flushed at exit.
pub struct Telemetry {
    provider: Option<SdkTracerProvider>,
}

impl Telemetry {
    /// Sends the spans still buffered (waits for the exporter, bounded by its timeout).
    pub fn shutdown(self) {
        if let Some(provider) = self.provider {
            if let Err(e) = provider.shutdown() {
                eprintln!("folio: flushing traces failed: {e}");
            }
        }
    }
}

/// Installs the global subscriber. Call outside any async runtime: the OTLP
/// exporter's blocking HTTP client owns a runtime of its own.
pub fn init(format: LogFormat, config: &TelemetryConfig) -> Result<Telemetry> {
    let filter = tracing_subscriber::EnvFilter::try_from_env("FOLIO_LOG").unwrap_or_else(|_| {
        tracing_subscriber::EnvFilter::new("info,tantivy=warn,ort=warn,qdrant_edge=error")
    });
    let logs = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .json()
            .with_writer(std::io::stderr)
            .boxed(),
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_writer(std::io::stderr)
            .boxed(),
    };
    let (traces, provider) = if config.otlp_endpoint.is_empty() {
        (None, None)
    } else {
        let exporter = opentelemetry_otlp::SpanExporter::builder()
            .with_http()
            .with_protocol(Protocol::HttpBinary)
            .with_endpoint(config.otlp_endpoint.clone())
            .build()
            .with_context(|| format!("OTLP exporter for {}", config.otlp_endpoint))?;
        let service = if config.service_name.is_empty() {
            "folio".to_string()
        } else {
            config.service_name.clone()
        };
        let provider = SdkTracerProvider::builder()
            .with_batch_exporter(exporter)
            .with_resource(Resource::builder().with_service_name(service).build())
            .build();
        let tracer = provider.tracer("folio");
        (
            Some(tracing_opentelemetry::layer().with_tracer(tracer)),
            Some(provider),
        )
    };
    tracing_subscriber::registry()
        .with(filter)
        .with(logs)
        .with(traces)
        .init();
    Ok(Telemetry { provider })
}

/// Log output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}
