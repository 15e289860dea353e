//! Settings that take one of a few named values. Each is parsed once, when the
//! configuration loads (a wrong name fails `folio` at start with the key and
//! the accepted names), and is written back under the same name.

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};

/// A setting's value that is not one of its accepted names.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct InvalidChoice(pub String);

/// Serde through the setting's name, so files, environment variables and
/// command-line overrides all spell it the same way.
macro_rules! named_setting {
    ($type:ty) => {
        impl TryFrom<String> for $type {
            type Error = InvalidChoice;
            fn try_from(name: String) -> Result<Self, Self::Error> {
                name.parse()
            }
        }

        impl From<$type> for String {
            fn from(value: $type) -> String {
                value.to_string()
            }
        }
    };
}

/// What one `folio serve` process runs (`server.role`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum ServeRole {
    /// API, web UI and ingestion workers in one process (the embedded default).
    #[default]
    All,
    /// Ingestion workers; HTTP only for health and metrics.
    Ingest,
    /// API and web UI; ingestion happens elsewhere.
    Query,
}

impl ServeRole {
    /// The name in configuration and on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            ServeRole::All => "all",
            ServeRole::Ingest => "ingest",
            ServeRole::Query => "query",
        }
    }

    /// Whether this process runs ingestion workers.
    pub fn runs_workers(self) -> bool {
        self != ServeRole::Query
    }

    /// Whether this process serves the `/v1` API and the web UI.
    pub fn serves_api(self) -> bool {
        self != ServeRole::Ingest
    }
}

impl FromStr for ServeRole {
    type Err = InvalidChoice;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim() {
            "all" => Ok(ServeRole::All),
            "ingest" => Ok(ServeRole::Ingest),
            "query" => Ok(ServeRole::Query),
            other => Err(InvalidChoice(format!(
                "unknown server role {other:?}: use all, ingest or query"
            ))),
        }
    }
}

impl fmt::Display for ServeRole {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

named_setting!(ServeRole);

/// Which model writes answers (`generator.backend`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum GeneratorBackend {
    /// The local model of `[models]` (which also scores for XL3M).
    #[default]
    Local,
    /// An OpenAI-compatible server (`generator.base_url`).
    OpenAi,
}

impl FromStr for GeneratorBackend {
    type Err = InvalidChoice;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim() {
            "local" => Ok(GeneratorBackend::Local),
            "openai" => Ok(GeneratorBackend::OpenAi),
            other => Err(InvalidChoice(format!(
                "unknown generator backend {other:?}: use local or openai"
            ))),
        }
    }
}

impl fmt::Display for GeneratorBackend {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            GeneratorBackend::Local => "local",
            GeneratorBackend::OpenAi => "openai",
        })
    }
}

named_setting!(GeneratorBackend);

/// How the local model's weights are held for computation (`models.llm_weights`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LlmWeights {
    /// Dequantized to f32: the fastest prefill on CPU.
    #[default]
    F32,
    /// Re-quantized to Q8_0: about a quarter of f32's memory.
    Q8_0,
    /// As stored in the file.
    Stored,
    /// bfloat16 (GPU).
    Bf16,
    /// float16 (GPU).
    F16,
}

impl FromStr for LlmWeights {
    type Err = InvalidChoice;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim() {
            "f32" => Ok(LlmWeights::F32),
            "q8_0" => Ok(LlmWeights::Q8_0),
            "stored" => Ok(LlmWeights::Stored),
            "bf16" => Ok(LlmWeights::Bf16),
            "f16" => Ok(LlmWeights::F16),
            other => Err(InvalidChoice(format!(
                "unknown weight format {other:?}: use f32, q8_0, stored, bf16 or f16"
            ))),
        }
    }
}

impl fmt::Display for LlmWeights {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LlmWeights::F32 => "f32",
            LlmWeights::Q8_0 => "q8_0",
            LlmWeights::Stored => "stored",
            LlmWeights::Bf16 => "bf16",
            LlmWeights::F16 => "f16",
        })
    }
}

named_setting!(LlmWeights);

/// Where the local model runs (`models.llm_device`): `cpu`, `cuda` or `cuda:N`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum LlmDevice {
    /// The host CPU.
    #[default]
    Cpu,
    /// A CUDA device by ordinal (builds with CUDA only).
    Cuda(usize),
}

impl FromStr for LlmDevice {
    type Err = InvalidChoice;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        let bad = || InvalidChoice(format!("unknown device {name:?}: use cpu, cuda or cuda:N"));
        match name.trim() {
            "cpu" => Ok(LlmDevice::Cpu),
            "cuda" => Ok(LlmDevice::Cuda(0)),
            other => {
                let ordinal = other.strip_prefix("cuda:").ok_or_else(bad)?;
                ordinal.parse().map(LlmDevice::Cuda).map_err(|_| bad())
            }
        }
    }
}

impl fmt::Display for LlmDevice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LlmDevice::Cpu => f.write_str("cpu"),
            LlmDevice::Cuda(ordinal) => write!(f, "cuda:{ordinal}"),
        }
    }
}

named_setting!(LlmDevice);

/// Which methods an answer uses (the ablation axes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct Pipeline {
    /// Key context by XL3M instead of the top retrieved chunks.
    pub xl3m: bool,
    /// Verified facts first (ALR²) instead of answering from the context directly.
    pub alr2: bool,
    /// Recycled demonstrations in the prompt.
    pub demos: bool,
    /// No generation: the answer is the best evidence itself.
    pub extract: bool,
}

impl Pipeline {
    /// Every method on.
    pub const FULL: Pipeline = Pipeline {
        xl3m: true,
        alr2: true,
        demos: true,
        extract: false,
    };

    /// The evidence itself, with no generator.
    pub const EXTRACT: Pipeline = Pipeline {
        xl3m: false,
        alr2: false,
        demos: false,
        extract: true,
    };

    /// Generation from the top retrieved chunks, nothing else.
    pub const PLAIN: Pipeline = Pipeline {
        xl3m: false,
        alr2: false,
        demos: false,
        extract: false,
    };

    /// The ablation names: `extract`, `plain`, `+xl3m`, `+alr2`, `+demos`, `full`
    /// (other combinations join their parts: `+xl3m+alr2`).
    pub fn name(self) -> String {
        if self == Self::FULL {
            return "full".into();
        }
        if self.extract {
            return "extract".into();
        }
        let mut name = String::new();
        for (on, part) in [
            (self.xl3m, "+xl3m"),
            (self.alr2, "+alr2"),
            (self.demos, "+demos"),
        ] {
            if on {
                name.push_str(part);
            }
        }
        if name.is_empty() {
            "plain".into()
        } else {
            name
        }
    }
}

impl FromStr for Pipeline {
    type Err = InvalidChoice;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.trim();
        if s == "full" {
            return Ok(Self::FULL);
        }
        if s == "extract" {
            return Ok(Self::EXTRACT);
        }
        let mut pipeline = Self::PLAIN;
        for part in s.split('+').map(str::trim).filter(|p| !p.is_empty()) {
            match part {
                "plain" => {}
                "xl3m" => pipeline.xl3m = true,
                "alr2" => pipeline.alr2 = true,
                "demos" => pipeline.demos = true,
                other => {
                    return Err(InvalidChoice(format!(
                    "unknown pipeline part {other:?} (extract, plain, +xl3m, +alr2, +demos, full)"
                )))
                }
            }
        }
        Ok(pipeline)
    }
}

/// The default answering pipeline (`answer.pipeline`): `auto` or a pipeline name.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub enum PipelineChoice {
    /// `extract` with the built-in model on CPU, `full` on a GPU or an
    /// OpenAI-compatible server.
    #[default]
    Auto,
    /// This pipeline whatever the generator.
    Fixed(Pipeline),
}

impl FromStr for PipelineChoice {
    type Err = InvalidChoice;
    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name.trim() {
            "auto" => Ok(PipelineChoice::Auto),
            other => other.parse().map(PipelineChoice::Fixed),
        }
    }
}

impl fmt::Display for PipelineChoice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineChoice::Auto => f.write_str("auto"),
            PipelineChoice::Fixed(pipeline) => f.write_str(&pipeline.name()),
        }
    }
}

named_setting!(PipelineChoice);

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trips<T>(names: &[&str])
    where
        T: FromStr<Err = InvalidChoice> + fmt::Display + fmt::Debug,
    {
        for name in names {
            let value: T = name.parse().expect(name);
            assert_eq!(value.to_string(), *name);
        }
    }

    #[test]
    fn every_name_reads_back_as_itself() {
        round_trips::<ServeRole>(&["all", "ingest", "query"]);
        round_trips::<GeneratorBackend>(&["local", "openai"]);
        round_trips::<LlmWeights>(&["f32", "q8_0", "stored", "bf16", "f16"]);
        round_trips::<LlmDevice>(&["cpu", "cuda:0", "cuda:3"]);
        round_trips::<PipelineChoice>(&[
            "auto",
            "extract",
            "plain",
            "+xl3m",
            "+alr2",
            "+demos",
            "full",
            "+xl3m+alr2",
        ]);
    }

    #[test]
    fn short_forms_and_unknown_names() {
        assert_eq!("cuda".parse::<LlmDevice>(), Ok(LlmDevice::Cuda(0)));
        assert_eq!(
            "+alr2+xl3m".parse::<Pipeline>().map(Pipeline::name),
            Ok("+xl3m+alr2".into())
        );
        assert!("gpu".parse::<LlmDevice>().is_err());
        assert!("cuda:x".parse::<LlmDevice>().is_err());
        assert!("+magic".parse::<PipelineChoice>().is_err());
        assert!("OpenAI".parse::<GeneratorBackend>().is_err());
        let message = "q4".parse::<LlmWeights>().unwrap_err().to_string();
        assert!(message.contains("q8_0"), "{message}");
    }
}
