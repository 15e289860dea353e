//! The candle backend: GGUF files and Hugging Face safetensors directories run
//! in-process, on the CPU or (with the `cuda` feature) a CUDA device.

mod attention;
#[cfg(feature = "cuda")]
mod cuda_view;
mod decoder;
mod elementwise;
mod hf;
mod scoring;

use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file;
use candle_core::{DType, Device, Tensor};

use std::time::Instant;

use crate::chat::ChatFormatter;
use crate::text_stream::{Advance, TextStream};
use crate::tokenizer::GgufTokenizer;
use crate::{
    ChatMessage, ContinuationScores, FinishReason, GenerateRequest, Generation, LanguageModel,
    LlmError, ModelDescription, ScoreInput, TokenSink,
};
use decoder::{Decoder, GgufWeights, Hyper};
pub use folio_common::config::{LlmDevice, LlmWeights};

/// The dtype activations are computed in, for weights held as `weights`.
pub fn compute_dtype(weights: LlmWeights) -> DType {
    match weights {
        LlmWeights::Bf16 => DType::BF16,
        LlmWeights::F16 => DType::F16,
        LlmWeights::F32 | LlmWeights::Q8_0 | LlmWeights::Stored => DType::F32,
    }
}

/// Options of [`CandleModel::load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CandleOptions {
    /// Weight format for computation.
    pub weights: LlmWeights,
    /// Most tokens (batch × padded length) in one forward pass: bounds memory.
    pub max_batch_tokens: usize,
    /// The CPU, or a CUDA device in builds with the `cuda` feature.
    pub device: LlmDevice,
}

impl Default for CandleOptions {
    fn default() -> Self {
        Self {
            weights: LlmWeights::default(),
            max_batch_tokens: 4096,
            device: LlmDevice::Cpu,
        }
    }
}

/// Opens the device; CUDA needs a build with the `cuda` feature.
pub fn open_device(device: LlmDevice) -> Result<Device, LlmError> {
    match device {
        LlmDevice::Cpu => Ok(Device::Cpu),
        #[cfg(feature = "cuda")]
        LlmDevice::Cuda(ordinal) => Ok(Device::new_cuda(ordinal)?),
        #[cfg(not(feature = "cuda"))]
        LlmDevice::Cuda(_) => Err(LlmError::InvalidRequest(
            "this build has no CUDA support (build with the `cuda` feature: scripts/build-cuda.sh)"
                .into(),
        )),
    }
}

/// A decoder-only model on a device, working on token ids: continuation
/// scoring, logits and greedy batch generation. [`CandleModel`] adds the
/// tokenizer and the chat format on top.
///
/// Loads a GGUF file (llama, qwen2, gemma3) or a Hugging Face model directory
/// (`config.json` + `*.safetensors`, llama and qwen2).
pub struct CandleDecoder {
    path: PathBuf,
    decoder: Decoder,
    options: CandleOptions,
}

impl std::fmt::Debug for CandleDecoder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleDecoder")
            .field("path", &self.path)
            .field("architecture", &self.decoder.hyper.architecture)
            .field("options", &self.options)
            .finish()
    }
}

impl CandleDecoder {
    /// Loads the weights of `path` (a GGUF file or a model directory) onto
    /// `options.device` in `options.weights`.
    pub fn load(path: &Path, options: CandleOptions) -> Result<Self, LlmError> {
        let device = open_device(options.device)?;
        let decoder = if path.is_dir() {
            let hyper = hf::read_hyper(path)?;
            let mut weights = hf::HfWeights::load(path, &device, options.weights)?;
            let dtype = match options.weights {
                LlmWeights::Stored => hf::stored_dtype(&weights),
                other => compute_dtype(other),
            };
            Decoder::load(hyper, &mut weights, &device, dtype)?
        } else {
            let (content, mut file) = read_gguf(path)?;
            let hyper = Hyper::read(&content)?;
            let mut weights = GgufWeights {
                content: &content,
                reader: &mut file,
                device: &device,
                format: options.weights,
            };
            Decoder::load(hyper, &mut weights, &device, compute_dtype(options.weights))?
        };
        Ok(Self {
            path: path.to_path_buf(),
            decoder,
            options,
        })
    }

    /// `general.architecture` or `model_type`: llama, qwen2, gemma3.
    pub fn architecture(&self) -> &str {
        &self.decoder.hyper.architecture
    }

    /// Most tokens per sequence.
    pub fn context_length(&self) -> usize {
        self.decoder.hyper.context_length
    }

    /// Changes the most padded tokens per forward pass of [`Self::score_tokens`].
    pub fn set_max_batch_tokens(&mut self, tokens: usize) {
        self.options.max_batch_tokens = tokens.max(1);
    }

    /// Turns Folio's fused CUDA kernels off or back on. They are on by
    /// default and apply to bf16/f16 models on CUDA: attention (64-wide heads),
    /// SwiGLU and bias rows. Benchmarks and checks compare them with candle's ops.
    pub fn set_fused_kernels(&mut self, on: bool) {
        self.decoder.set_fused_kernels(on);
    }

    /// Waits for the device's queued work (timing on a GPU).
    pub fn synchronize(&self) -> Result<(), LlmError> {
        Ok(self.decoder.device().synchronize()?)
    }

    /// Scores `(ids, prefix_len)` sequences: per continuation token its
    /// log-probability and the entropy of the distribution that predicted it.
    ///
    /// Sequences are packed by length: longest first, cut into forward passes of
    /// at most `options.max_batch_tokens` padded tokens, so sequences of similar
    /// length share a pass and little compute goes to padding.
    pub fn score_tokens(
        &self,
        sequences: &[(Vec<u32>, usize)],
    ) -> Result<Vec<ContinuationScores>, LlmError> {
        for (ids, prefix) in sequences {
            if *prefix == 0 || *prefix >= ids.len() {
                return Err(LlmError::InvalidRequest(format!(
                    "a scored sequence needs a prefix and a continuation ({} tokens, prefix {prefix})",
                    ids.len()
                )));
            }
            if ids.len() > self.context_length() {
                return Err(LlmError::ContextOverflow {
                    tokens: ids.len(),
                    limit: self.context_length(),
                });
            }
        }
        let mut results: Vec<Option<ContinuationScores>> = vec![None; sequences.len()];
        for group in pack_by_length(sequences, self.options.max_batch_tokens) {
            let members: Vec<&(Vec<u32>, usize)> = group.iter().map(|&i| &sequences[i]).collect();
            for (&i, scores) in group.iter().zip(self.score_group(&members)?) {
                results[i] = Some(scores);
            }
        }
        results
            .into_iter()
            .map(|r| r.ok_or_else(|| LlmError::InvalidRequest("a sequence was not scored".into())))
            .collect()
    }

    /// Scores sequences in one forward pass, right-padded to the longest.
    fn score_group(
        &self,
        sequences: &[&(Vec<u32>, usize)],
    ) -> Result<Vec<ContinuationScores>, LlmError> {
        let len = sequences
            .iter()
            .map(|(ids, _)| ids.len())
            .max()
            .unwrap_or(0);
        // Any id will do: padding sits after every real token, so the causal mask
        // keeps it out of every real position.
        let pad = 0;
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
        let (chosen, entropy) = scoring::continuation_scores(
            &self.decoder.scoring_logits(&selected)?,
            &targets,
            self.decoder.fused_kernels(),
        )?;
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

    /// The logits (f32) at the last token of each sequence, all sequences in one
    /// right-padded forward pass.
    pub fn last_logits(&self, sequences: &[Vec<u32>]) -> Result<Vec<Vec<f32>>, LlmError> {
        let len = sequences.iter().map(Vec::len).max().unwrap_or(0);
        if len == 0 || sequences.iter().any(Vec::is_empty) {
            return Err(LlmError::InvalidRequest(
                "an empty sequence has no last token".into(),
            ));
        }
        let mut tokens = Vec::with_capacity(len * sequences.len());
        let mut rows = Vec::with_capacity(sequences.len());
        for (b, ids) in sequences.iter().enumerate() {
            tokens.extend_from_slice(ids);
            tokens.extend(std::iter::repeat_n(0, len - ids.len()));
            rows.push((b * len + ids.len() - 1) as u32);
        }
        let hidden = self
            .decoder
            .hidden_states(&tokens, sequences.len(), len)?
            .reshape((sequences.len() * len, self.decoder.hyper.hidden))?;
        let rows = Tensor::new(rows.as_slice(), hidden.device())?;
        Ok(self
            .decoder
            .logits(&hidden.index_select(&rows, 0)?)?
            .to_vec2::<f32>()?)
    }

    /// Greedy decoding of `new_tokens` tokens for each prompt, all prompts in
    /// one batch through one KV cache (the prompts must have equal lengths).
    pub fn generate_greedy(
        &self,
        prompts: &[Vec<u32>],
        new_tokens: usize,
    ) -> Result<Vec<Vec<u32>>, LlmError> {
        let len = prompts.first().map_or(0, Vec::len);
        if len == 0 || prompts.iter().any(|p| p.len() != len) {
            return Err(LlmError::InvalidRequest(
                "batched generation needs non-empty prompts of equal length".into(),
            ));
        }
        if len + new_tokens > self.context_length() {
            return Err(LlmError::ContextOverflow {
                tokens: len + new_tokens,
                limit: self.context_length(),
            });
        }
        let batch = prompts.len();
        let mut cache = self.decoder.new_cache();
        let tokens: Vec<u32> = prompts.concat();
        let mut hidden = self.decoder.extend_batch(&tokens, batch, &mut cache)?;
        let mut generated = vec![Vec::with_capacity(new_tokens); batch];
        for step in 0..new_tokens {
            let last = hidden.dim(1)? - 1;
            let rows = hidden
                .narrow(1, last, 1)?
                .reshape((batch, self.decoder.hyper.hidden))?;
            let next = self
                .decoder
                .logits(&rows)?
                .argmax(candle_core::D::Minus1)?
                .to_vec1::<u32>()?;
            for (out, id) in generated.iter_mut().zip(&next) {
                out.push(*id);
            }
            if step + 1 < new_tokens {
                hidden = self.decoder.extend_batch(&next, batch, &mut cache)?;
            }
        }
        Ok(generated)
    }
}

/// Sequence indices grouped for forward passes: longest first, each group at
/// most `max_tokens` padded tokens (a sequence longer than that goes alone).
fn pack_by_length(sequences: &[(Vec<u32>, usize)], max_tokens: usize) -> Vec<Vec<usize>> {
    let mut order: Vec<usize> = (0..sequences.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(sequences[i].0.len()));
    let mut groups = Vec::new();
    let mut start = 0;
    while start < order.len() {
        let longest = sequences[order[start]].0.len();
        let fit = (max_tokens / longest.max(1)).max(1);
        let end = (start + fit).min(order.len());
        groups.push(order[start..end].to_vec());
        start = end;
    }
    groups
}

fn read_gguf(path: &Path) -> Result<(gguf_file::Content, std::fs::File), LlmError> {
    let mut file = std::fs::File::open(path).map_err(|source| LlmError::Open {
        path: path.to_path_buf(),
        source,
    })?;
    let content = gguf_file::Content::read(&mut file).map_err(|e| LlmError::InvalidGguf {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok((content, file))
}

/// A chat model on candle: a [`CandleDecoder`] with the tokenizer and chat
/// template read from GGUF metadata (the GGUF file itself, or a model
/// directory's `tokenizer.gguf`).
///
/// Holds no per-request state (no KV cache), so it is `Sync` and `score` can run
/// from several threads at once; each call uses candle's thread pool for its
/// matrix products.
pub struct CandleModel {
    engine: CandleDecoder,
    tokenizer: GgufTokenizer,
    chat: ChatFormatter,
    /// Tokens that end the assistant's turn.
    stop_ids: Vec<u32>,
}

impl std::fmt::Debug for CandleModel {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CandleModel")
            .field("engine", &self.engine)
            .finish()
    }
}

/// The file a model directory's tokenizer is read from.
pub const DIRECTORY_TOKENIZER: &str = "tokenizer.gguf";

impl CandleModel {
    /// Loads a GGUF file, or a model directory holding `config.json`,
    /// `*.safetensors` and a GGUF whose metadata carries the same tokenizer
    /// ([`DIRECTORY_TOKENIZER`]).
    pub fn load(path: &Path, options: CandleOptions) -> Result<Self, LlmError> {
        let tokenizer_path = if path.is_dir() {
            let file = path.join(DIRECTORY_TOKENIZER);
            if !file.is_file() {
                return Err(LlmError::InvalidModelDirectory {
                    path: path.to_path_buf(),
                    reason: format!(
                        "no {DIRECTORY_TOKENIZER}: put the model's GGUF there, or a vocab-only \
                         one (gpu/vocab_gguf.py, or llama.cpp's convert_hf_to_gguf.py --vocab-only)"
                    ),
                });
            }
            file
        } else {
            path.to_path_buf()
        };
        let (content, _) = read_gguf(&tokenizer_path)?;
        let tokenizer = GgufTokenizer::from_gguf(&content)?;
        let engine = CandleDecoder::load(path, options)?;
        let chat = ChatFormatter::new(&tokenizer);
        let mut stop_ids: Vec<u32> = tokenizer.eos().into_iter().collect();
        for end_of_turn in ["<|im_end|>", "<end_of_turn>", "<|eot_id|>", "<|endoftext|>"] {
            if let Some(id) = tokenizer.token_id(end_of_turn) {
                stop_ids.push(id);
            }
        }
        Ok(Self {
            engine,
            tokenizer,
            chat,
            stop_ids,
        })
    }

    /// The model's tokenizer.
    pub fn tokenizer(&self) -> &GgufTokenizer {
        &self.tokenizer
    }

    /// The token-level model underneath.
    pub fn engine(&self) -> &CandleDecoder {
        &self.engine
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
        let limit = self.engine.context_length();
        if ids.len() > limit {
            return Err(LlmError::ContextOverflow {
                tokens: ids.len(),
                limit,
            });
        }
        Ok((ids, prefix))
    }

    /// The prompt tokens of a chat (contents neutralized, template applied, BOS once).
    pub fn chat_prompt_tokens(&self, messages: &[ChatMessage]) -> Result<Vec<u32>, LlmError> {
        let safe: Vec<ChatMessage> = messages
            .iter()
            .map(|m| ChatMessage {
                role: m.role,
                content: self.tokenizer.neutralize_specials(&m.content),
            })
            .collect();
        let prompt = self.chat.render(&safe)?;
        let mut ids = self.tokenizer.encode(&prompt)?;
        if self.tokenizer.adds_bos() {
            if let Some(bos) = self.tokenizer.bos() {
                if ids.first() != Some(&bos) {
                    ids.insert(0, bos);
                }
            }
        }
        Ok(ids)
    }

    /// Log-probabilities of the next token after the last position of `hidden`
    /// (`[1, len, hidden]`).
    fn next_log_probs(&self, hidden: &Tensor) -> Result<Vec<f32>, LlmError> {
        let decoder = &self.engine.decoder;
        let len = hidden.dim(1)?;
        let last = hidden
            .narrow(1, len - 1, 1)?
            .reshape((1, decoder.hyper.hidden))?;
        Ok(decoder.log_probs(&last)?.flatten_all()?.to_vec1::<f32>()?)
    }
}

impl LanguageModel for CandleModel {
    fn describe(&self) -> ModelDescription {
        ModelDescription {
            id: self
                .engine
                .path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
            architecture: self.engine.architecture().to_string(),
            backend: "candle".into(),
            device: self.engine.options.device.to_string(),
            context_length: self.engine.context_length(),
            supports_scoring: true,
            chat_format: self.chat.name().into(),
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
        self.engine.score_tokens(&encoded)
    }

    fn generate(
        &self,
        request: &GenerateRequest,
        on_text: TokenSink<'_>,
    ) -> Result<Generation, LlmError> {
        let started = Instant::now();
        let prompt = self.chat_prompt_tokens(&request.messages)?;
        let limit = self.engine.context_length();
        if prompt.len() >= limit {
            return Err(LlmError::ContextOverflow {
                tokens: prompt.len(),
                limit,
            });
        }
        let budget = request.max_tokens.min(limit - prompt.len());
        let mut sampler = Sampler::new(request.temperature, request.seed);
        let mut stream = TextStream::new(&request.stop);
        let decoder = &self.engine.decoder;
        let mut cache = decoder.new_cache();
        let mut hidden = decoder.extend(&prompt, &mut cache)?;
        let mut generated: Vec<u32> = Vec::new();
        let mut first_token_s = None;
        let finish_reason = loop {
            if generated.len() >= budget {
                break FinishReason::Length;
            }
            let log_probs = self.next_log_probs(&hidden)?;
            let next = sampler.pick(&log_probs);
            first_token_s.get_or_insert_with(|| started.elapsed().as_secs_f64());
            if self.stop_ids.contains(&next) {
                break FinishReason::Stop;
            }
            generated.push(next);
            let text = self.tokenizer.decode(&generated, false)?;
            match stream.advance(&text) {
                Advance::Emit(piece) => {
                    if !piece.is_empty() && !on_text(piece) {
                        break FinishReason::Cancelled;
                    }
                }
                Advance::Stopped(piece) => {
                    if !piece.is_empty() {
                        on_text(piece);
                    }
                    break FinishReason::Stop;
                }
            }
            if is_looping(&generated) {
                // Small models fall into verbatim loops under greedy decoding; a
                // third repetition adds nothing a reader needs.
                break FinishReason::Stop;
            }
            hidden = decoder.extend(&[next], &mut cache)?;
        };
        let tail = stream.finish();
        if !tail.is_empty() && finish_reason != FinishReason::Cancelled {
            on_text(&tail);
        }
        Ok(Generation {
            text: stream.into_text(),
            finish_reason,
            prompt_tokens: prompt.len(),
            completion_tokens: generated.len(),
            first_token_s: first_token_s.unwrap_or_else(|| started.elapsed().as_secs_f64()),
            total_s: started.elapsed().as_secs_f64(),
        })
    }
}

/// Whether the tokens end with the same block (4 to 48 tokens) three times over.
fn is_looping(ids: &[u32]) -> bool {
    (4..=48).any(|period| {
        let n = ids.len();
        n >= 3 * period
            && ids[n - period..] == ids[n - 2 * period..n - period]
            && ids[n - period..] == ids[n - 3 * period..n - 2 * period]
    })
}

/// Greedy or temperature sampling with a seeded generator (splitmix64), so a seed
/// reproduces a reply.
struct Sampler {
    temperature: f32,
    state: u64,
}

impl Sampler {
    fn new(temperature: f32, seed: Option<u64>) -> Self {
        Self {
            temperature: if temperature.is_finite() {
                temperature.max(0.0)
            } else {
                0.0
            },
            state: seed.unwrap_or(0x5EED_F011_0000_0001),
        }
    }

    fn next_unit(&mut self) -> f64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^= z >> 31;
        (z >> 11) as f64 / (1u64 << 53) as f64
    }

    fn pick(&mut self, log_probs: &[f32]) -> u32 {
        let argmax = log_probs
            .iter()
            .enumerate()
            .filter(|(_, v)| v.is_finite())
            .max_by(|a, b| a.1.total_cmp(b.1))
            .map_or(0, |(i, _)| i as u32);
        if self.temperature <= 1e-6 {
            return argmax;
        }
        let scale = 1.0 / f64::from(self.temperature);
        let top = f64::from(log_probs[argmax as usize]);
        let weights: Vec<f64> = log_probs
            .iter()
            .map(|v| {
                if v.is_finite() {
                    ((f64::from(*v) - top) * scale).exp()
                } else {
                    0.0
                }
            })
            .collect();
        let total: f64 = weights.iter().sum();
        let mut target = self.next_unit() * total;
        for (i, w) in weights.iter().enumerate() {
            target -= w;
            if target <= 0.0 {
                return i as u32;
            }
        }
        argmax
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn model(relative: &str) -> Option<CandleModel> {
        let path = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../models")
            .join(relative);
        if !path.exists() {
            eprintln!(
                "{} absent (run `folio models fetch --with gemma3`): skipped",
                path.display()
            );
            return None;
        }
        Some(CandleModel::load(&path, CandleOptions::default()).expect("model loads"))
    }

    /// Decoding with the KV cache (a prefix at once, then a token at a time) gives
    /// the hidden states of one full forward pass, including past Gemma 3's
    /// sliding window.
    fn assert_cache_matches_full_pass(model: &CandleModel, repeat: usize) {
        let text =
            "Either party may terminate this Agreement upon ninety (90) days' written notice. "
                .repeat(repeat);
        let ids = model.tokenizer.encode_prompt(&text).expect("encodes");
        let len = ids.len();
        let decoder = &model.engine.decoder;
        let full = decoder
            .hidden_states(&ids, 1, len)
            .and_then(|h| h.squeeze(0))
            .and_then(|h| h.to_vec2::<f32>())
            .expect("full pass");
        let split = len - 6;
        let mut cache = decoder.new_cache();
        let mut rows = decoder
            .extend(&ids[..split], &mut cache)
            .and_then(|h| h.squeeze(0))
            .and_then(|h| h.to_vec2::<f32>())
            .expect("prefix pass");
        for id in &ids[split..] {
            let row = decoder
                .extend(&[*id], &mut cache)
                .and_then(|h| h.squeeze(0))
                .and_then(|h| h.to_vec2::<f32>())
                .expect("one-token pass");
            rows.extend(row);
        }
        assert_eq!(rows.len(), full.len());
        for (position, (a, b)) in rows.iter().zip(&full).enumerate() {
            let worst = a
                .iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0.0f32, f32::max);
            assert!(
                worst < 2e-3,
                "position {position} of {len}: max difference {worst}"
            );
        }
    }

    #[test]
    fn cached_decoding_equals_a_full_pass_smollm2() {
        if let Some(model) = model("smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf") {
            assert_cache_matches_full_pass(&model, 3);
        }
    }

    #[test]
    fn cached_decoding_equals_a_full_pass_gemma3_past_the_window() {
        if let Some(mut model) = model("gemma3-270m/gemma-3-270m-q4_k_m.gguf") {
            // A small window makes the sliding layers matter within a short text.
            model.engine.decoder.hyper.sliding_window = Some(16);
            for layer in model.engine.decoder.layers_mut().iter_mut() {
                layer.set_window(Some(16));
            }
            assert_cache_matches_full_pass(&model, 3);
        }
    }

    proptest::proptest! {
        /// Every sequence lands in exactly one pass; a pass never exceeds the
        /// token budget unless it holds a single sequence longer than it; passes
        /// go longest first, so lengths within a pass are neighbours.
        #[test]
        fn packing_by_length_covers_every_sequence_within_the_budget(
            lengths in proptest::collection::vec(2usize..300, 0..40),
            budget in 1usize..2000,
        ) {
            let sequences: Vec<(Vec<u32>, usize)> =
                lengths.iter().map(|&n| (vec![0; n], 1)).collect();
            let groups = pack_by_length(&sequences, budget);
            let mut seen: Vec<usize> = groups.iter().flatten().copied().collect();
            seen.sort_unstable();
            proptest::prop_assert_eq!(seen, (0..sequences.len()).collect::<Vec<_>>());
            let mut previous_shortest = usize::MAX;
            for group in &groups {
                let longest = group.iter().map(|&i| lengths[i]).max().unwrap_or(0);
                let shortest = group.iter().map(|&i| lengths[i]).min().unwrap_or(0);
                proptest::prop_assert!(group.len() == 1 || longest * group.len() <= budget);
                proptest::prop_assert!(longest <= previous_shortest);
                previous_shortest = shortest;
            }
        }
    }

    #[test]
    fn devices_parse_and_cuda_needs_the_feature() {
        assert_eq!("cpu".parse::<LlmDevice>().ok(), Some(LlmDevice::Cpu));
        assert_eq!("cuda".parse::<LlmDevice>().ok(), Some(LlmDevice::Cuda(0)));
        assert_eq!("cuda:3".parse::<LlmDevice>().ok(), Some(LlmDevice::Cuda(3)));
        assert!("gpu".parse::<LlmDevice>().is_err());
        assert!("cuda:x".parse::<LlmDevice>().is_err());
        if !cfg!(feature = "cuda") {
            let err = open_device(LlmDevice::Cuda(0)).expect_err("a CPU build refuses CUDA");
            assert!(err.to_string().contains("cuda"), "{err}");
        }
    }

    #[test]
    fn a_block_repeated_three_times_is_a_loop() {
        let block = [5u32, 6, 7, 8, 9];
        let mut ids = vec![1u32, 2];
        for _ in 0..2 {
            ids.extend(block);
        }
        assert!(!is_looping(&ids));
        ids.extend(block);
        assert!(is_looping(&ids));
        assert!(
            !is_looping(&[3, 3, 3, 3, 3, 3, 3, 3, 3, 3, 3]),
            "shorter than 4 × 3"
        );
    }

    #[test]
    fn the_sampler_is_greedy_at_zero_and_reproducible_with_a_seed() {
        let log_probs = [-3.0f32, -0.1, -2.5, f32::NEG_INFINITY];
        assert_eq!(Sampler::new(0.0, None).pick(&log_probs), 1);
        let draw = |seed| {
            let mut sampler = Sampler::new(1.5, Some(seed));
            (0..32)
                .map(|_| sampler.pick(&log_probs))
                .collect::<Vec<_>>()
        };
        assert_eq!(draw(7), draw(7));
        assert!(
            draw(7).iter().all(|&t| t < 3),
            "an impossible token was drawn"
        );
        assert!(
            draw(7).iter().any(|&t| t != 1),
            "temperature 1.5 never left the argmax"
        );
    }
}
