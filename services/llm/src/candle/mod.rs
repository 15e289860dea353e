//! The candle backend: GGUF models run in-process (CPU).

mod decoder;

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};

use crate::tokenizer::GgufTokenizer;
use crate::{ContinuationScores, LanguageModel, LlmError, ModelDescription, ScoreInput};
use decoder::Decoder;

/// How GGUF weights are held for computation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WeightFormat {
    /// Dequantized to f32 at load: the fastest prefill on CPU (candle's f32 GEMM),
    /// 4–8× the memory of a 4-bit file. The default for scoring.
    #[default]
    F32,
    /// Re-quantized to Q8_0: candle has fast Q8_0 kernels; about a quarter of F32's
    /// memory.
    Q8_0,
    /// As stored in the file (slow for formats without a fast kernel, e.g. Q4_1).
    Stored,
}

impl std::str::FromStr for WeightFormat {
    type Err = LlmError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Self::F32),
            "q8_0" => Ok(Self::Q8_0),
            "stored" => Ok(Self::Stored),
            other => Err(LlmError::InvalidRequest(format!(
                "unknown weight format {other:?} (f32, q8_0, stored)"
            ))),
        }
    }
}

/// Options of [`CandleModel::load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandleOptions {
    /// Weight format for computation.
    pub weights: WeightFormat,
    /// Most tokens (batch × padded length) in one forward pass: bounds memory.
    pub max_batch_tokens: usize,
    /// `cpu` (CUDA builds will add `cuda:N`).
    pub device: String,
}

impl Default for CandleOptions {
    fn default() -> Self {
        Self {
            weights: WeightFormat::default(),
            max_batch_tokens: 4096,
            device: "cpu".into(),
        }
    }
}

/// A GGUF model (llama, qwen2 or gemma3 family) running on candle.
///
/// Holds no per-request state (no KV cache), so it is `Sync` and `score` can run
/// from several threads at once; each call uses candle's thread pool for its
/// matrix products.
pub struct CandleModel {
    path: PathBuf,
    decoder: Decoder,
    tokenizer: GgufTokenizer,
    options: CandleOptions,
}

impl std::fmt::Debug for CandleModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleModel")
            .field("path", &self.path)
            .field("architecture", &self.decoder.hyper.architecture)
            .field("options", &self.options)
            .finish()
    }
}

impl CandleModel {
    /// Loads a GGUF file: tokenizer from its metadata, weights in `options.weights`.
    pub fn load(path: &Path, options: CandleOptions) -> Result<Self, LlmError> {
        let device = match options.device.as_str() {
            "cpu" => Device::Cpu,
            other => {
                return Err(LlmError::InvalidRequest(format!(
                    "device {other:?} is not available in this build (only `cpu`)"
                )))
            }
        };
        let open_err = |source| LlmError::Open {
            path: path.to_path_buf(),
            source,
        };
        let mut file = std::fs::File::open(path).map_err(open_err)?;
        let content = gguf_file::Content::read(&mut file).map_err(|e| LlmError::InvalidGguf {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
        let tokenizer = GgufTokenizer::from_gguf(&content)?;
        let decoder = Decoder::load(&content, &mut file, &device, options.weights)?;
        Ok(Self {
            path: path.to_path_buf(),
            decoder,
            tokenizer,
            options,
        })
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    fn encode_pair(&self, input: &ScoreInput) -> Result<(Vec<u32>, usize), LlmError> {
        let mut ids = self.tokenizer.encode_prompt(&input.prefix)?;
        let prefix = ids.len();
        let continuation = self.tokenizer.encode(&input.continuation)?;
        if continuation.is_empty() {
            return Err(LlmError::InvalidRequest(
                "the continuation has no tokens".into(),
            ));
        }
        if prefix == 0 {
            return Err(LlmError::InvalidRequest(
                "the prefix is empty and the model uses no BOS token: the first continuation token would have nothing to be predicted from".into(),
            ));
        }
        ids.extend(continuation);
        let limit = self.decoder.hyper.context_length;
        if ids.len() > limit {
            return Err(LlmError::ContextOverflow {
                tokens: ids.len(),
                limit,
            });
        }
        Ok((ids, prefix))
    }

    /// Scores sequences of equal padded length in one forward pass.
    fn score_group(
        &self,
        sequences: &[(Vec<u32>, usize)],
    ) -> Result<Vec<ContinuationScores>, LlmError> {
        let len = sequences
            .iter()
            .map(|(ids, _)| ids.len())
            .max()
            .unwrap_or(0);
        let pad = self.tokenizer.eos().unwrap_or(0);
        let mut tokens = Vec::with_capacity(len * sequences.len());
        let mut rows: Vec<u32> = Vec::new();
        let mut targets: Vec<u32> = Vec::new();
        for (b, (ids, prefix)) in sequences.iter().enumerate() {
            tokens.extend_from_slice(ids);
            tokens.extend(std::iter::repeat_n(pad, len - ids.len()));
            // The distribution at position p predicts token p + 1.
            for position in (prefix - 1)..(ids.len() - 1) {
                rows.push((b * len + position) as u32);
                targets.push(ids[position + 1]);
            }
        }
        let hidden = self.decoder.hidden_states(&tokens, sequences.len(), len)?;
        let hidden = hidden.reshape((sequences.len() * len, self.decoder.hyper.hidden))?;
        let device = hidden.device().clone();
        let selected = hidden.index_select(&Tensor::new(rows.as_slice(), &device)?, 0)?;
        let log_probs = self.decoder.log_probs(&selected)?;
        let entropy = (log_probs.exp()? * &log_probs)?
            .sum(candle_core::D::Minus1)?
            .neg()?
            .to_vec1::<f32>()?;
        let chosen = log_probs
            .gather(
                &Tensor::new(targets.as_slice(), &device)?.reshape((targets.len(), 1))?,
                1,
            )?
            .flatten_all()?
            .to_vec1::<f32>()?;
        let mut out = Vec::with_capacity(sequences.len());
        let mut at = 0;
        for (ids, prefix) in sequences {
            let n = ids.len() - prefix;
            out.push(ContinuationScores {
                prefix_tokens: *prefix,
                tokens: ids[*prefix..].to_vec(),
                logprobs: chosen[at..at + n].to_vec(),
                entropies: entropy[at..at + n].to_vec(),
            });
            at += n;
        }
        Ok(out)
    }
}

impl LanguageModel for CandleModel {
    fn describe(&self) -> ModelDescription {
        ModelDescription {
            id: self
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            architecture: self.decoder.hyper.architecture.clone(),
            backend: "candle".into(),
            device: self.options.device.clone(),
            context_length: self.decoder.hyper.context_length,
            supports_scoring: true,
        }
    }

    fn count_tokens(&self, text: &str) -> Result<usize, LlmError> {
        Ok(self.tokenizer.encode(text)?.len())
    }

    fn score(&self, batch: &[ScoreInput]) -> Result<Vec<ContinuationScores>, LlmError> {
        let encoded: Vec<(Vec<u32>, usize)> = batch
            .iter()
            .map(|input| self.encode_pair(input))
            .collect::<Result<_, _>>()?;
        // Longest first, then cut into groups under the token budget: sequences of
        // similar length share a pass, so little compute goes to padding.
        let mut order: Vec<usize> = (0..encoded.len()).collect();
        order.sort_by_key(|&i| std::cmp::Reverse(encoded[i].0.len()));
        let mut results: Vec<Option<ContinuationScores>> = vec![None; encoded.len()];
        let mut start = 0;
        while start < order.len() {
            let longest = encoded[order[start]].0.len();
            let fit = (self.options.max_batch_tokens / longest.max(1)).max(1);
            let end = (start + fit).min(order.len());
            let group: Vec<(Vec<u32>, usize)> = order[start..end]
                .iter()
                .map(|&i| encoded[i].clone())
                .collect();
            for (&i, scores) in order[start..end].iter().zip(self.score_group(&group)?) {
                results[i] = Some(scores);
            }
            start = end;
        }
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| LlmError::InvalidRequest("a sequence was not scored".into())))
            .collect()
    }
}
