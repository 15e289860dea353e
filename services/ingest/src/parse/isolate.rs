//! Parsing where the operating system bounds it.
//!
//! A parser that is fed a decompression bomb or trips over a decoder bug
//! can take its whole process down, and with it every other job and request
//! (a 78 KB PDF did, on every restart). So the server parses each document
//! in a child process: the same `folio` binary, re-executed in its parse
//! mode, under an address-space limit (`RLIMIT_AS`) and a CPU limit
//! (`RLIMIT_CPU`), killed at a wall-clock deadline. A child that dies tells
//! the parent nothing but its exit status; the job fails with
//! `decoded_too_large` (memory), `parse_timeout` (time) or `parser_crashed`
//! (anything else), and the server carries on.
//!
//! The protocol is one request and one reply: the request ([`ChildRequest`],
//! JSON) is the child's argument, the document's file is its standard input
//! (the server never reads it), and one JSON [`ChildReply`] comes back on
//! standard output.

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::Stdio;
use std::time::Duration;

use folio_common::model::{DocumentFormat, ParsedDocument};
use serde::{Deserialize, Serialize};
use tokio::io::AsyncReadExt;

use super::{parse, ParseError, ParseLimits};
use crate::failpoints::FailPoints;

/// The subcommand of `folio` that runs [`serve_child`]. Hidden from users.
pub const CHILD_SUBCOMMAND: &str = "parse-child";

/// Most bytes of a child's standard error kept for the failure message.
const STDERR_KEPT: usize = 16 * 1024;

/// Where and under what limits documents are parsed.
#[derive(Debug, Clone)]
pub struct DocumentParser {
    limits: ParseLimits,
    child: Option<ChildLimits>,
}

/// The operating-system bounds of a parser process.
#[derive(Debug, Clone)]
pub struct ChildLimits {
    /// The `folio` executable to run (normally the running one).
    pub program: PathBuf,
    /// Address-space limit of the child, in bytes.
    pub memory_bytes: u64,
}

impl From<ParseLimits> for DocumentParser {
    /// Parses in this process, bounded only by the parser's own checks.
    fn from(limits: ParseLimits) -> Self {
        DocumentParser {
            limits,
            child: None,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct ChildRequest {
    format: DocumentFormat,
    limits: ParseLimits,
}

#[derive(Debug, Serialize, Deserialize)]
enum ChildReply {
    Parsed(ParsedDocument),
    Failed(WireError),
}

/// A [`ParseError`] as it crosses the process boundary.
#[derive(Debug, Serialize, Deserialize)]
struct WireError {
    code: String,
    detail: String,
    actual: u64,
    limit: u64,
}

impl DocumentParser {
    /// Parses in a child process of `child.program` under `child`'s limits.
    pub fn in_child_process(limits: ParseLimits, child: ChildLimits) -> Self {
        DocumentParser {
            limits,
            child: Some(child),
        }
    }

    /// The parser's own limits.
    pub fn limits(&self) -> &ParseLimits {
        &self.limits
    }

    /// Parses the document in `original` (an open file, read from its start)
    /// as `format`. Never panics and, with a child process, never lets the
    /// document touch this process's memory or time: the child reads the
    /// file itself, as its standard input.
    pub async fn parse(
        &self,
        format: DocumentFormat,
        original: std::fs::File,
        failpoints: &FailPoints,
    ) -> Result<ParsedDocument, ParseError> {
        match &self.child {
            Some(child) => parse_in_child(child, format, original, &self.limits).await,
            None => {
                let (limits, failpoints) = (self.limits.clone(), failpoints.clone());
                tokio::task::spawn_blocking(move || {
                    let bytes = read_document(original, &limits)?;
                    failpoints.parser_hit();
                    parse(format, &bytes, &limits)
                })
                .await
                .map_err(|e| ParseError::Crashed(format!("the parser thread failed: {e}")))?
            }
        }
    }
}

/// Reads a document, at most one byte past the input limit (so that
/// [`parse`] can tell it is too large without reading it all).
fn read_document(input: impl Read, limits: &ParseLimits) -> Result<Vec<u8>, ParseError> {
    let mut bytes = Vec::new();
    input
        .take(limits.max_input_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
        .map_err(|e| ParseError::Corrupt(format!("cannot read the document: {e}")))?;
    Ok(bytes)
}

async fn parse_in_child(
    child: &ChildLimits,
    format: DocumentFormat,
    original: std::fs::File,
    limits: &ParseLimits,
) -> Result<ParsedDocument, ParseError> {
    let request = ChildRequest {
        format,
        limits: limits.clone(),
    };
    let request = serde_json::to_string(&request)
        .map_err(|e| ParseError::Crashed(format!("cannot encode the parse request: {e}")))?;

    let mut command = tokio::process::Command::new(&child.program);
    command
        .arg(CHILD_SUBCOMMAND)
        .arg(request)
        .stdin(Stdio::from(original))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let memory = child.memory_bytes;
    // CPU seconds: the wall budget, so a child spinning on both cores is
    // stopped by the kernel even if this process is too busy to notice.
    let cpu_secs = limits.max_parse_time.as_secs().max(1);
    // SAFETY: the closure runs in the forked child before exec and only calls
    // setrlimit, which is async-signal-safe; it allocates nothing.
    unsafe {
        command.pre_exec(move || bound_this_process(memory, cpu_secs));
    }
    let started = std::time::Instant::now();
    let mut process = command
        .spawn()
        .map_err(|e| ParseError::Crashed(format!("cannot start the parser process: {e}")))?;
    let (Some(mut stdout), Some(mut stderr)) = (process.stdout.take(), process.stderr.take())
    else {
        return Err(ParseError::Crashed(
            "the parser process has no pipes".into(),
        ));
    };

    // A reply is JSON of at most the text limit, escaped (at worst 6 bytes a
    // character), plus the layout: anything longer is not a reply.
    let reply_limit = limits.max_output_chars as u64 * 6 + limits.max_input_bytes + (1 << 20);
    let exchange = async {
        let read_reply = async {
            let mut reply = Vec::new();
            let _ = (&mut stdout)
                .take(reply_limit)
                .read_to_end(&mut reply)
                .await;
            reply
        };
        let read_errors = async {
            let mut errors = Vec::new();
            let _ = (&mut stderr)
                .take(STDERR_KEPT as u64)
                .read_to_end(&mut errors)
                .await;
            errors
        };
        let (reply, errors) = tokio::join!(read_reply, read_errors);
        let status = process.wait().await;
        (reply, errors, status)
    };
    // The child's own CPU limit is the same budget; the margin lets it report
    // a deadline of its own (a clean `parse_timeout` from inside) first.
    let deadline = limits.max_parse_time + Duration::from_secs(5);
    let Ok((reply, errors, status)) = tokio::time::timeout(deadline, exchange).await else {
        // Dropping the exchange dropped the child handle: kill_on_drop kills it.
        return Err(ParseError::Timeout {
            limit_secs: limits.max_parse_time.as_secs(),
        });
    };
    let status =
        status.map_err(|e| ParseError::Crashed(format!("cannot wait for the parser: {e}")))?;
    if status.success() {
        if let Ok(reply) = serde_json::from_slice::<ChildReply>(&reply) {
            return match reply {
                ChildReply::Parsed(doc) => Ok(doc),
                ChildReply::Failed(error) => Err(error.into_parse_error()),
            };
        }
    }
    let ran_out_of_time = started.elapsed() >= limits.max_parse_time;
    Err(classify_death(
        status,
        &errors,
        child.memory_bytes,
        ran_out_of_time,
        limits,
    ))
}

/// Why a parser process ended without a reply.
fn classify_death(
    status: std::process::ExitStatus,
    stderr: &[u8],
    memory_bytes: u64,
    ran_out_of_time: bool,
    limits: &ParseLimits,
) -> ParseError {
    use std::os::unix::process::ExitStatusExt;
    let errors = String::from_utf8_lossy(stderr);
    // Rust's allocation-failure handler prints this before aborting.
    if errors.contains("memory allocation of") {
        return ParseError::DecodedTooLarge(format!(
            "the parser passed its memory limit of {} MiB",
            memory_bytes >> 20
        ));
    }
    match status.signal() {
        // The CPU limit: SIGXCPU at the soft limit, SIGKILL at the hard one.
        Some(libc::SIGXCPU) => {
            return ParseError::Timeout {
                limit_secs: limits.max_parse_time.as_secs(),
            }
        }
        Some(libc::SIGKILL) if ran_out_of_time => {
            return ParseError::Timeout {
                limit_secs: limits.max_parse_time.as_secs(),
            }
        }
        // Killed early from outside: the kernel's OOM killer (a container's
        // memory limit below the address-space limit) is the usual sender.
        Some(libc::SIGKILL) => {
            return ParseError::DecodedTooLarge(
                "the parser process was killed early, most likely out of memory".into(),
            )
        }
        _ => {}
    }
    let last_line = errors
        .lines()
        .rev()
        .find(|line| !line.trim().is_empty())
        .unwrap_or("")
        .chars()
        .take(300)
        .collect::<String>();
    let how = match (status.code(), status.signal()) {
        (_, Some(signal)) => format!("killed by signal {signal}"),
        (Some(code), None) => format!("exit code {code}"),
        (None, None) => "unknown exit".to_string(),
    };
    if last_line.is_empty() {
        ParseError::Crashed(how)
    } else {
        ParseError::Crashed(format!("{how}: {last_line}"))
    }
}

/// Applies the address-space and CPU limits to the calling process; runs in
/// the child between fork and exec.
fn bound_this_process(memory_bytes: u64, cpu_secs: u64) -> std::io::Result<()> {
    let set = |resource, soft: u64, hard: u64| {
        let limit = libc::rlimit {
            rlim_cur: soft as libc::rlim_t,
            rlim_max: hard as libc::rlim_t,
        };
        // SAFETY: a plain system call on a valid, initialised struct.
        if unsafe { libc::setrlimit(resource, &limit) } == 0 {
            Ok(())
        } else {
            Err(std::io::Error::last_os_error())
        }
    };
    set(libc::RLIMIT_AS, memory_bytes, memory_bytes)?;
    // SIGXCPU at the soft limit; the kernel's SIGKILL a few seconds later.
    set(libc::RLIMIT_CPU, cpu_secs, cpu_secs + 5)?;
    // A crashing parser must not leave a core file of a hostile document.
    set(libc::RLIMIT_CORE, 0, 0)
}

/// The parse mode of the `folio` binary: `request` (a JSON [`ChildRequest`],
/// the argument the server passed) says how to parse the document on
/// standard input; one reply goes to standard output. Returns the process
/// exit code (0 when a reply was written, parsed or not).
pub fn serve_child(request: &str, input: impl Read, mut output: impl Write) -> i32 {
    let Ok(request) = serde_json::from_str::<ChildRequest>(request) else {
        eprintln!("parse-child: the argument is not a parse request");
        return 2;
    };
    let bytes = match read_document(input, &request.limits) {
        Ok(bytes) => bytes,
        Err(e) => {
            eprintln!("parse-child: {e}");
            return 2;
        }
    };
    FailPoints::from_env().parser_hit();
    let reply = match parse(request.format, &bytes, &request.limits) {
        Ok(doc) => ChildReply::Parsed(doc),
        Err(error) => ChildReply::Failed(WireError::from_parse_error(&error)),
    };
    let written = serde_json::to_writer(&mut output, &reply)
        .map_err(std::io::Error::from)
        .and_then(|()| output.flush());
    match written {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("parse-child: cannot write the reply: {e}");
            3
        }
    }
}

impl WireError {
    fn from_parse_error(error: &ParseError) -> Self {
        let (actual, limit) = match error {
            ParseError::TooLarge { actual, limit, .. } => (*actual, *limit),
            ParseError::Timeout { limit_secs } => (0, *limit_secs),
            _ => (0, 0),
        };
        let detail = match error {
            ParseError::TooLarge { what, .. } => (*what).to_string(),
            ParseError::Corrupt(d)
            | ParseError::UnsupportedEncoding(d)
            | ParseError::Unsupported(d)
            | ParseError::ZipBomb(d)
            | ParseError::ForbiddenXml(d)
            | ParseError::DecodedTooLarge(d)
            | ParseError::Crashed(d) => d.clone(),
            _ => String::new(),
        };
        WireError {
            code: error.code().to_string(),
            detail,
            actual,
            limit,
        }
    }

    fn into_parse_error(self) -> ParseError {
        let WireError {
            code,
            detail,
            actual,
            limit,
        } = self;
        match code.as_str() {
            "empty_document" => ParseError::Empty,
            "too_large" => ParseError::TooLarge {
                what: measured_quantity(&detail),
                actual,
                limit,
            },
            "encrypted" => ParseError::Encrypted,
            "corrupt" => ParseError::Corrupt(detail),
            "no_text_layer" => ParseError::NoTextLayer,
            "binary_content" => ParseError::Binary,
            "unsupported_encoding" => ParseError::UnsupportedEncoding(detail),
            "unsupported_format" => ParseError::Unsupported(detail),
            "zip_bomb" => ParseError::ZipBomb(detail),
            "forbidden_xml" => ParseError::ForbiddenXml(detail),
            "decoded_too_large" => ParseError::DecodedTooLarge(detail),
            "parse_timeout" => ParseError::Timeout { limit_secs: limit },
            "parser_crashed" => ParseError::Crashed(detail),
            _ => ParseError::Crashed(format!("unknown reply {code:?}: {detail}")),
        }
    }
}

/// The `what` of a [`ParseError::TooLarge`] back from the child.
fn measured_quantity(what: &str) -> &'static str {
    match what {
        "input bytes" => "input bytes",
        "pages" => "pages",
        "text characters" => "text characters",
        "unzipped bytes" => "unzipped bytes",
        _ => "the document",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_error_crosses_the_boundary_intact() {
        let errors = super::super::one_of_each_error();
        for error in errors {
            let wire = serde_json::to_vec(&WireError::from_parse_error(&error)).unwrap_or_default();
            let back = serde_json::from_slice::<WireError>(&wire).map(WireError::into_parse_error);
            assert_eq!(back.ok(), Some(error));
        }
    }

    #[test]
    fn the_child_mode_answers_one_request() {
        let request = serde_json::to_string(&ChildRequest {
            format: DocumentFormat::Text,
            limits: ParseLimits::default(),
        })
        .unwrap_or_default();
        let document = b"Section 1. Payment\n\nThe Buyer pays within forty-five (45) days.\n";
        let mut output = Vec::new();
        assert_eq!(serve_child(&request, &document[..], &mut output), 0);
        match serde_json::from_slice::<ChildReply>(&output) {
            Ok(ChildReply::Parsed(doc)) => assert!(doc.text.contains("forty-five (45) days")),
            other => panic!("unexpected reply {other:?}"),
        }
        let mut output = Vec::new();
        assert_eq!(serve_child("not json", &document[..], &mut output), 2);
        assert!(output.is_empty());
    }
}
