//! GGUF model metadata.

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file;
use serde::Serialize;

/// Errors of the LLM layer.
#[derive(Debug, thiserror::Error)]
pub enum LlmError {
    /// The model file could not be opened.
    #[error("cannot open model file {path}: {source}")]
    Open {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not a readable GGUF model.
    #[error("{path} is not a valid GGUF model: {reason}")]
    InvalidGguf {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The directory is not a usable Hugging Face model directory.
    #[error("{path} is not a usable model directory: {reason}")]
    InvalidModelDirectory {
        /// The directory (or the file in it that was wrong).
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// The model's architecture is not one this backend implements.
    #[error("unsupported model architecture `{0}` (supported: llama, qwen2, gemma3)")]
    UnsupportedArchitecture(String),
    /// The tokenizer could not be built or failed on an input.
    #[error("tokenizer error: {0}")]
    Tokenizer(String),
    /// An input does not fit the model's context.
    #[error("input of {tokens} tokens exceeds the model's context of {limit} tokens")]
    ContextOverflow {
        /// Tokens in the input.
        tokens: usize,
        /// The model's limit.
        limit: usize,
    },
    /// A request the model cannot serve (for example an empty continuation).
    #[error("invalid request: {0}")]
    InvalidRequest(String),
    /// The backend does not offer this operation (for example scoring over an API
    /// that exposes no prompt log-probabilities).
    #[error("{0} is not supported by this backend")]
    Unsupported(&'static str),
    /// A model server failed or could not be reached (after retries).
    #[error("model server error: {0}")]
    Remote(String),
    /// The tensor library failed.
    #[error("model computation failed: {0}")]
    Compute(#[from] candle_core::Error),
}

/// What a GGUF file says about its model.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GgufModelInfo {
    /// The file.
    pub path: PathBuf,
    /// `general.architecture` (llama, gemma3, qwen2, …).
    pub architecture: String,
    /// `general.name`, when present.
    pub name: Option<String>,
    /// Context length the model was trained for.
    pub context_length: Option<u64>,
    /// Tensors in the file.
    pub tensor_count: usize,
    /// Parameters (sum of tensor element counts).
    pub parameters: u64,
    /// Whether the tokenizer is embedded (`tokenizer.ggml.tokens`).
    pub has_tokenizer: bool,
    /// File size in bytes.
    pub file_bytes: u64,
}

impl GgufModelInfo {
    /// Reads the header and metadata of a GGUF file (not the weights).
    pub fn read(path: &Path) -> Result<Self, LlmError> {
        let open_err = |source| LlmError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(open_err)?;
        let file_bytes = file.metadata().map_err(open_err)?.len();
        let content = gguf_file::Content::read(&mut file).map_err(|e| LlmError::InvalidGguf {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let text = |key: &str| metadata_string(&content, key);
        let architecture = text("general.architecture").ok_or_else(|| LlmError::InvalidGguf {
            path: path.to_path_buf(),
            reason: "general.architecture is missing".into(),
        })?;
        let context_length = content
            .metadata
            .get(&format!("{architecture}.context_length"))
            .and_then(|v| v.to_u64().ok().or_else(|| v.to_u32().ok().map(u64::from)));
        let parameters = content
            .tensor_infos
            .values()
            .map(|t| t.shape.elem_count() as u64)
            .sum();
        Ok(GgufModelInfo {
            path: path.to_path_buf(),
            name: text("general.name"),
            context_length,
            tensor_count: content.tensor_infos.len(),
            parameters,
            has_tokenizer: content.metadata.contains_key("tokenizer.ggml.tokens"),
            file_bytes,
            architecture,
        })
    }
}

/// A string metadata value of a GGUF file, when present and a string.
pub(crate) fn metadata_string(content: &gguf_file::Content, key: &str) -> Option<String> {
    content
        .metadata
        .get(key)
        .and_then(|v| v.to_string().ok())
        .cloned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_non_gguf_files() {
        let dir = std::env::temp_dir().join(format!("folio-llm-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("not-a-model.gguf");
        std::fs::write(&path, b"this is not a gguf file").unwrap();
        assert!(matches!(
            GgufModelInfo::read(&path),
            Err(LlmError::InvalidGguf { .. })
        ));
        assert!(matches!(
            GgufModelInfo::read(&dir.join("missing.gguf")),
            Err(LlmError::Open { .. })
        ));
    }

    #[test]
    fn reads_the_default_model_when_fetched() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf");
        if !path.exists() {
            eprintln!(
                "{} absent (run `folio models fetch`): skipped",
                path.display()
            );
            return;
        }
        let info = GgufModelInfo::read(&path).unwrap();
        assert_eq!(info.architecture, "llama");
        assert!(info.has_tokenizer);
        assert!(
            info.parameters > 100_000_000 && info.parameters < 200_000_000,
            "{}",
            info.parameters
        );
    }
}
