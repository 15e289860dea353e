//! The tokenizer of a GGUF model, built from its metadata.

use candle_core::quantized::gguf_file;
use candle_core::quantized::tokenizer::TokenizerFromGguf;
use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::Tokenizer;

use crate::gguf::metadata_string;
use crate::spm::SpmTokenizer;
use crate::LlmError;

#[derive(Clone)]
enum Engine {
    /// Byte-level BPE through the `tokenizers` crate.
    Bpe(Box<Tokenizer>),
    /// SentencePiece-style BPE by piece scores.
    Spm(Box<SpmTokenizer>),
}

/// A GGUF model's tokenizer: encode/decode plus the ids and template the model
/// was trained with.
#[derive(Clone)]
pub struct GgufTokenizer {
    inner: Engine,
    bos: Option<u32>,
    eos: Option<u32>,
    add_bos: bool,
    chat_template: Option<String>,
    vocab_size: usize,
    /// Texts the encoder turns into special tokens (longest first).
    specials: Vec<String>,
}

impl std::fmt::Debug for GgufTokenizer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GgufTokenizer")
            .field("bos", &self.bos)
            .field("eos", &self.eos)
            .field("add_bos", &self.add_bos)
            .field("vocab_size", &self.vocab_size)
            .finish()
    }
}

fn metadata_u32(content: &gguf_file::Content, key: &str) -> Option<u32> {
    let value = content.metadata.get(key)?;
    value
        .to_u32()
        .ok()
        .or_else(|| value.to_i32().ok().and_then(|v| u32::try_from(v).ok()))
        .or_else(|| value.to_u64().ok().and_then(|v| u32::try_from(v).ok()))
}

impl GgufTokenizer {
    /// Builds the tokenizer from GGUF metadata.
    ///
    /// Byte-level BPE vocabularies (`tokenizer.ggml.model = "gpt2"`: llama-3, SmolLM2,
    /// Qwen2) are supported. The pre-tokenizer follows `tokenizer.ggml.pre` the way
    /// llama.cpp does; in particular `smollm` splits every digit on its own and does
    /// not add a prefix space (candle's generic fallback would add one, shifting every
    /// token of a chat template). SentencePiece vocabularies (`llama` model type, e.g.
    /// Gemma) are refused with a clear error.
    pub fn from_gguf(content: &gguf_file::Content) -> Result<Self, LlmError> {
        let text = |key: &str| metadata_string(content, key);
        let kind = text("tokenizer.ggml.model").unwrap_or_default();
        let add_bos = content
            .metadata
            .get("tokenizer.ggml.add_bos_token")
            .and_then(|v| v.to_bool().ok())
            .unwrap_or(false);
        let chat_template = text("tokenizer.chat_template");
        let bos = metadata_u32(content, "tokenizer.ggml.bos_token_id");
        let eos = metadata_u32(content, "tokenizer.ggml.eos_token_id");
        if kind == "llama" {
            let spm = spm_from_gguf(content)?;
            let specials = longest_first(spm.special_pieces().map(str::to_string).collect());
            return Ok(Self {
                specials,
                vocab_size: spm.len(),
                inner: Engine::Spm(Box::new(spm)),
                bos,
                eos,
                add_bos,
                chat_template,
            });
        }
        if kind != "gpt2" {
            return Err(LlmError::Tokenizer(format!(
                "tokenizer model `{kind}` is not supported (byte-level BPE `gpt2` and SentencePiece `llama` vocabularies are)"
            )));
        }
        let mut inner =
            Tokenizer::from_gguf(content).map_err(|e| LlmError::Tokenizer(e.to_string()))?;
        let pre = text("tokenizer.ggml.pre").unwrap_or_else(|| "gpt2".into());
        match pre.as_str() {
            // Handled by candle to match the models' tokenizer.json.
            "qwen2" | "smaug-bpe" | "lfm2" | "llama3" => {}
            "smollm" => {
                inner.with_pre_tokenizer(Some(Sequence::new(vec![
                    Digits::new(true).into(),
                    ByteLevel::new(false, true, true).into(),
                ])));
                inner.with_decoder(Some(ByteLevelDecoder::default()));
            }
            _ => {
                // GPT-2 style: byte level on the GPT-2 regex, no prefix space.
                inner.with_pre_tokenizer(Some(ByteLevel::new(false, true, true)));
                inner.with_decoder(Some(ByteLevelDecoder::default()));
            }
        }
        // candle's template post-processor would add BOS on `encode(…, true)`; BOS is
        // added explicitly instead, so encoding never depends on that flag.
        inner.with_post_processor(None::<tokenizers::processors::PostProcessorWrapper>);
        let vocab_size = content
            .metadata
            .get("tokenizer.ggml.tokens")
            .and_then(|v| v.to_vec().ok())
            .map_or(0, |v| v.len());
        let specials = longest_first(
            inner
                .get_added_tokens_decoder()
                .values()
                .map(|token| token.content.clone())
                .collect(),
        );
        Ok(Self {
            specials,
            inner: Engine::Bpe(Box::new(inner)),
            bos,
            eos,
            add_bos,
            chat_template,
            vocab_size,
        })
    }

    /// Token ids of `text` (special tokens written in the text, such as
    /// `<|im_start|>`, become their single ids); no BOS.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        match &self.inner {
            Engine::Bpe(inner) => {
                let encoding = inner
                    .encode(text, false)
                    .map_err(|e| LlmError::Tokenizer(e.to_string()))?;
                Ok(encoding.get_ids().to_vec())
            }
            Engine::Spm(spm) => Ok(spm.encode(text)),
        }
    }

    /// `encode`, with BOS first when the model expects one.
    pub fn encode_prompt(&self, text: &str) -> Result<Vec<u32>, LlmError> {
        let mut ids = Vec::new();
        if self.add_bos {
            if let Some(bos) = self.bos {
                ids.push(bos);
            }
        }
        ids.extend(self.encode(text)?);
        Ok(ids)
    }

    /// Text of token ids; special tokens are kept when `keep_special`.
    pub fn decode(&self, ids: &[u32], keep_special: bool) -> Result<String, LlmError> {
        match &self.inner {
            Engine::Bpe(inner) => inner
                .decode(ids, !keep_special)
                .map_err(|e| LlmError::Tokenizer(e.to_string())),
            Engine::Spm(spm) => Ok(spm.decode(ids, keep_special)),
        }
    }

    /// Beginning-of-sequence id.
    pub fn bos(&self) -> Option<u32> {
        self.bos
    }

    /// End-of-sequence id.
    pub fn eos(&self) -> Option<u32> {
        self.eos
    }

    /// Whether prompts start with BOS.
    pub fn adds_bos(&self) -> bool {
        self.add_bos
    }

    /// The Jinja chat template from `tokenizer.chat_template`, if any.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// Id of a token written exactly (for example `<|im_end|>`).
    pub fn token_id(&self, token: &str) -> Option<u32> {
        match &self.inner {
            Engine::Bpe(inner) => inner.token_to_id(token),
            Engine::Spm(spm) => spm.token_id(token),
        }
    }

    /// Entries in the vocabulary.
    pub fn vocab_size(&self) -> usize {
        self.vocab_size
    }

    /// Texts that [`GgufTokenizer::encode`] turns into special tokens (such as
    /// `<|im_start|>`), longest first.
    pub fn special_texts(&self) -> &[String] {
        &self.specials
    }

    /// `text` with every special-token text broken by a word joiner (U+2060), so
    /// document text can never open or close a chat turn: it stays data.
    pub fn neutralize_specials(&self, text: &str) -> String {
        neutralize(text, &self.specials)
    }
}

fn longest_first(mut texts: Vec<String>) -> Vec<String> {
    texts.retain(|t| t.chars().count() > 1);
    texts.sort_by(|a, b| b.len().cmp(&a.len()).then_with(|| a.cmp(b)));
    texts.dedup();
    texts
}

/// Inserts U+2060 after the first character of every occurrence of a special text.
pub(crate) fn neutralize(text: &str, specials: &[String]) -> String {
    if !specials.iter().any(|s| text.contains(s.as_str())) {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 16);
    let mut rest = text;
    'scan: while !rest.is_empty() {
        for special in specials {
            if rest.starts_with(special.as_str()) {
                let mut chars = special.chars();
                if let Some(first) = chars.next() {
                    out.push(first);
                    out.push('\u{2060}');
                    out.push_str(chars.as_str());
                }
                rest = &rest[special.len()..];
                continue 'scan;
            }
        }
        let mut chars = rest.chars();
        if let Some(c) = chars.next() {
            out.push(c);
        }
        rest = chars.as_str();
    }
    out
}

fn spm_from_gguf(content: &gguf_file::Content) -> Result<SpmTokenizer, LlmError> {
    let array = |key: &str| {
        content
            .metadata
            .get(key)
            .and_then(|v| v.to_vec().ok())
            .ok_or_else(|| LlmError::Tokenizer(format!("{key} is missing")))
    };
    let pieces = array("tokenizer.ggml.tokens")?
        .iter()
        .map(|v| v.to_string().cloned())
        .collect::<Result<Vec<String>, _>>()
        .map_err(|e| LlmError::Tokenizer(e.to_string()))?;
    let scores = match array("tokenizer.ggml.scores") {
        Ok(values) => values
            .iter()
            .map(|v| v.to_f32())
            .collect::<Result<Vec<f32>, _>>()
            .map_err(|e| LlmError::Tokenizer(e.to_string()))?,
        Err(_) => vec![0.0; pieces.len()],
    };
    let types = match array("tokenizer.ggml.token_type") {
        Ok(values) => values
            .iter()
            .map(|v| v.to_i32().map(|t| t as u32).or_else(|_| v.to_u32()))
            .collect::<Result<Vec<u32>, _>>()
            .map_err(|e| LlmError::Tokenizer(e.to_string()))?,
        Err(_) => vec![1; pieces.len()],
    };
    let add_space_prefix = content
        .metadata
        .get("tokenizer.ggml.add_space_prefix")
        .and_then(|v| v.to_bool().ok())
        .unwrap_or(true);
    let unknown = metadata_u32(content, "tokenizer.ggml.unknown_token_id");
    Ok(SpmTokenizer::new(
        pieces,
        scores,
        types,
        unknown,
        add_space_prefix,
    ))
}
