//! Prometheus metrics, served at `/metrics`: HTTP latency by route, ingestion
//! stage durations and queue depth, generation speed and queue wait, retrieval
//! latency.

use std::sync::Arc;
use std::time::Duration;

use folio_ingest::worker::{JobObserver, JobOutcome};
use folio_store::JobRecord;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

/// Labels of an HTTP request.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct HttpLabels {
    /// `GET`, `POST`, …
    pub method: String,
    /// The route template (`/v1/documents/{id}`), never the raw path, so ids do
    /// not explode the series count.
    pub route: String,
    /// Response status.
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StageLabels {
    stage: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct JobLabels {
    kind: &'static str,
    outcome: &'static str,
}

/// Every metric of the process.
pub struct Metrics {
    registry: Registry,
    http: Family<HttpLabels, Histogram>,
    ingest_stage: Family<StageLabels, Histogram>,
    jobs: Family<JobLabels, Counter>,
    queue_depth: Gauge,
    llm_queue_wait: Histogram,
    llm_waiting: Gauge,
    llm_tokens: Counter,
    llm_tokens_per_second: Histogram,
    retrieval: Histogram,
}

fn seconds_buckets() -> impl Iterator<Item = f64> {
    // 1 ms … ~65 s.
    exponential_buckets(0.001, 2.0, 17)
}

impl Default for Metrics {
    fn default() -> Self {
        let http = Family::<HttpLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(seconds_buckets())
        });
        let ingest_stage = Family::<StageLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(seconds_buckets())
        });
        let jobs = Family::<JobLabels, Counter>::default();
        let queue_depth = Gauge::default();
        let llm_queue_wait = Histogram::new(seconds_buckets());
        let llm_waiting = Gauge::default();
        let llm_tokens = Counter::default();
        let llm_tokens_per_second = Histogram::new(exponential_buckets(1.0, 2.0, 12));
        let retrieval = Histogram::new(seconds_buckets());
        let mut registry = Registry::with_prefix("folio");
        registry.register(
            "http_request_duration_seconds",
            "Time to the response head, by route template, method and status",
            http.clone(),
        );
        registry.register(
            "ingest_stage_duration_seconds",
            "Time each ingestion stage took per document",
            ingest_stage.clone(),
        );
        registry.register(
            "ingest_jobs",
            "Jobs finished by this process, by kind and outcome",
            jobs.clone(),
        );
        registry.register(
            "ingest_queue_depth",
            "Jobs queued or running (all processes), read at scrape time",
            queue_depth.clone(),
        );
        registry.register(
            "llm_queue_wait_seconds",
            "Time an answer waited for a generation slot",
            llm_queue_wait.clone(),
        );
        registry.register(
            "llm_queue_waiting",
            "Answers waiting for a generation slot now",
            llm_waiting.clone(),
        );
        registry.register(
            "llm_generated_tokens",
            "Tokens generated for answers",
            llm_tokens.clone(),
        );
        registry.register(
            "llm_tokens_per_second",
            "Generation speed of each answer (generated tokens over generation time)",
            llm_tokens_per_second.clone(),
        );
        registry.register(
            "retrieval_duration_seconds",
            "Hybrid retrieval time per search",
            retrieval.clone(),
        );
        Metrics {
            registry,
            http,
            ingest_stage,
            jobs,
            queue_depth,
            llm_queue_wait,
            llm_waiting,
            llm_tokens,
            llm_tokens_per_second,
            retrieval,
        }
    }
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Metrics {
    /// One HTTP request.
    pub fn observe_http(&self, labels: HttpLabels, took: Duration) {
        self.http.get_or_create(&labels).observe(took.as_secs_f64());
    }

    /// One search (or an answer's retrieval).
    pub fn observe_retrieval(&self, took: Duration) {
        self.retrieval.observe(took.as_secs_f64());
    }

    /// A generation slot was obtained after `waited`; `waiting` are still queued.
    pub fn observe_llm_wait(&self, waited: Duration, waiting: usize) {
        self.llm_queue_wait.observe(waited.as_secs_f64());
        self.llm_waiting.set(waiting as i64);
    }

    /// Answers now waiting.
    pub fn set_llm_waiting(&self, waiting: usize) {
        self.llm_waiting.set(waiting as i64);
    }

    /// `tokens` generated in `took`.
    pub fn observe_generation(&self, tokens: usize, took: Duration) {
        self.llm_tokens.inc_by(tokens as u64);
        if tokens > 0 && took > Duration::ZERO {
            self.llm_tokens_per_second
                .observe(tokens as f64 / took.as_secs_f64());
        }
    }

    /// A worker hook recording each finished job.
    pub fn job_observer(self: &Arc<Self>) -> JobObserver {
        let metrics = Arc::clone(self);
        Arc::new(move |job: &JobRecord, outcome: &JobOutcome| {
            let outcome_name = match outcome {
                JobOutcome::Succeeded(_) => "succeeded",
                JobOutcome::Failed(_) => "failed",
                JobOutcome::LeaseLost => "lease_lost",
            };
            metrics
                .jobs
                .get_or_create(&JobLabels {
                    kind: job.kind.as_str(),
                    outcome: outcome_name,
                })
                .inc();
            if let JobOutcome::Succeeded(Some(summary)) = outcome {
                let t = &summary.timings;
                for (stage, took) in [
                    ("parse", t.parse),
                    ("structure", t.structure),
                    ("chunk", t.chunk),
                    ("embed", t.embed),
                    ("index", t.index),
                ] {
                    metrics
                        .ingest_stage
                        .get_or_create(&StageLabels { stage })
                        .observe(took.as_secs_f64());
                }
            }
        })
    }

    /// The text exposition, with the queue depth read now.
    pub fn render(&self, queue_depth: Option<i64>) -> String {
        if let Some(depth) = queue_depth {
            self.queue_depth.set(depth);
        }
        let mut out = String::new();
        if prometheus_client::encoding::text::encode(&mut out, &self.registry).is_err() {
            out.clear();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn observations_appear_in_the_exposition() {
        let metrics = Metrics::default();
        metrics.observe_http(
            HttpLabels {
                method: "GET".into(),
                route: "/v1/documents/{id}".into(),
                status: 200,
            },
            Duration::from_millis(12),
        );
        metrics.observe_generation(40, Duration::from_secs(2));
        let text = metrics.render(Some(3));
        assert!(text.contains(
            "folio_http_request_duration_seconds_count{method=\"GET\",route=\"/v1/documents/{id}\",status=\"200\"} 1"
        ), "{text}");
        assert!(text.contains("folio_ingest_queue_depth 3"), "{text}");
        assert!(
            text.contains("folio_llm_generated_tokens_total 40"),
            "{text}"
        );
        assert!(
            text.contains("folio_llm_tokens_per_second_sum 20.0"),
            "{text}"
        );
    }
}
