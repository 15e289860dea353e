//! Named failure-injection points in the ingestion pipeline.
//!
//! Crash-recovery tests must hit every stage boundary deterministically, and
//! they drive the real `folio` binary, so the points are armed through the
//! environment: `FOLIO_FAILPOINTS="before_db_commit=abort,after_parse=error"`.
//! `abort` kills the process on the spot (as SIGKILL would); `error` fails
//! the current job with code `injected_failure`; `hang` blocks the calling
//! thread for good (a decoder stuck in a loop); `sleep:MS` holds the job
//! there for MS milliseconds (so that a test can act while a job is at a
//! known stage, e.g. delete its document). `in_parser` is passed inside the
//! parser, in whichever process parses: there `error` panics. Unset, every
//! point is a no-op costing one hash lookup per stage.

use std::collections::HashMap;

/// Every point the pipeline passes, in order.
pub const FAILPOINTS: &[&str] = &[
    "after_claim",
    "in_parser",
    "after_parse",
    "after_canonical_write",
    "after_chunk",
    "after_embed_batch",
    "after_bm25_commit",
    "after_vector_upsert",
    "before_db_commit",
    "after_db_commit",
    "delete_after_indexes",
];

/// What an armed point does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailAction {
    /// Abort the process (no cleanup, like SIGKILL).
    Abort,
    /// Return an error from the stage.
    Error,
    /// Block the calling thread forever.
    Hang,
    /// Hold the job at the point for this long, then go on.
    Sleep(std::time::Duration),
}

/// The set of armed points.
#[derive(Debug, Clone, Default)]
pub struct FailPoints {
    armed: HashMap<String, FailAction>,
}

impl FailPoints {
    /// Reads `FOLIO_FAILPOINTS`; unknown names or actions are ignored with a warning.
    pub fn from_env() -> Self {
        std::env::var("FOLIO_FAILPOINTS")
            .map(|spec| Self::parse(&spec))
            .unwrap_or_default()
    }

    /// Parses `name=action[,name=action…]`.
    pub fn parse(spec: &str) -> Self {
        let mut armed = HashMap::new();
        for item in spec.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (name, action) = item.split_once('=').unwrap_or((item, "abort"));
            let action = match action {
                "abort" => FailAction::Abort,
                "error" => FailAction::Error,
                "hang" => FailAction::Hang,
                other if other.starts_with("sleep:") => {
                    match other["sleep:".len()..].parse::<u64>() {
                        Ok(ms) => FailAction::Sleep(std::time::Duration::from_millis(ms)),
                        Err(_) => {
                            tracing::warn!(
                                failpoint = name,
                                action = other,
                                "unreadable sleep ignored"
                            );
                            continue;
                        }
                    }
                }
                other => {
                    tracing::warn!(
                        failpoint = name,
                        action = other,
                        "unknown failpoint action ignored"
                    );
                    continue;
                }
            };
            if !FAILPOINTS.contains(&name) {
                tracing::warn!(failpoint = name, "unknown failpoint ignored");
                continue;
            }
            armed.insert(name.to_string(), action);
        }
        FailPoints { armed }
    }

    /// Passes the point `name`: aborts for an armed `abort` point; returns
    /// true when an armed `error` point asks the caller to fail.
    pub fn hit(&self, name: &str) -> bool {
        match self.armed.get(name) {
            None | Some(FailAction::Sleep(_)) => false,
            Some(FailAction::Error) => true,
            Some(FailAction::Abort) => {
                tracing::error!(
                    failpoint = name,
                    "failpoint armed with abort: aborting the process"
                );
                std::process::abort();
            }
            Some(FailAction::Hang) => hang(name),
        }
    }

    /// Passes the point `in_parser`, inside the parser: `error` panics there
    /// (a decoder bug), `abort` and `hang` act as everywhere.
    pub fn parser_hit(&self) {
        if self.hit("in_parser") {
            panic!("failpoint in_parser armed with error: a decoder bug");
        }
    }
}

fn hang(name: &str) -> ! {
    tracing::error!(
        failpoint = name,
        "failpoint armed with hang: blocking forever"
    );
    loop {
        std::thread::sleep(std::time::Duration::from_secs(3600));
    }
}

impl FailPoints {
    /// How long an armed `sleep` point holds the job at `name`.
    pub fn delay(&self, name: &str) -> Option<std::time::Duration> {
        match self.armed.get(name) {
            Some(FailAction::Sleep(delay)) => Some(*delay),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_fires_error_points() {
        let points = FailPoints::parse("after_parse=error, nonsense=error, after_chunk=explode");
        assert!(points.hit("after_parse"));
        assert!(!points.hit("after_chunk"), "unknown action ignored");
        assert!(!points.hit("before_db_commit"));
    }

    #[test]
    fn sleep_points_hold_without_failing() {
        let points = FailPoints::parse("after_vector_upsert=sleep:1500,after_parse=sleep:soon");
        assert!(!points.hit("after_vector_upsert"));
        assert_eq!(
            points.delay("after_vector_upsert"),
            Some(std::time::Duration::from_millis(1500))
        );
        assert_eq!(
            points.delay("after_parse"),
            None,
            "unreadable sleep ignored"
        );
    }
}
