//! Dense embeddings with fastembed on a local ONNX model, fully offline.

use std::ops::Range;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};

use fastembed::{
    InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel,
};
use folio_common::model::{ApproxTokenCounter, TokenCounter};
use sha2::{Digest, Sha256};

use crate::IndexError;

/// The oldest ONNX Runtime the bundled `ort` (API level 24) accepts.
const MIN_ONNX_RUNTIME_MINOR: u32 = 24;

/// Bytes of text [`Embedder::first_window`] tokenises per token of the window: far
/// more than a token of natural text takes, so the cut is almost always by tokens.
const BYTES_PER_TOKEN_BOUND: usize = 32;

/// Tuning knobs for [`Embedder::load`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmbedderOptions {
    /// Texts per ONNX Runtime call.
    pub batch_size: usize,
    /// Intra-op threads for ONNX Runtime; `None` lets ONNX Runtime choose (all cores).
    pub threads: Option<usize>,
    /// Tokens the model sees at once (special tokens included); capped by the model's own
    /// `model_max_length`. Longer texts are embedded as several windows of this length.
    pub max_length: usize,
    /// Runs the matrix products whose weights the model stores as int8 as integer
    /// products (activations quantised per call) instead of rebuilding f32 weights.
    /// Faster on CPUs with int8 dot products; vectors differ slightly, so the model id
    /// (and the embedding cache key) changes with it. Models without int8-stored weights
    /// run as they are.
    pub int8_matmul: bool,
}

impl Default for EmbedderOptions {
    fn default() -> Self {
        Self {
            batch_size: 32,
            threads: None,
            max_length: 256,
            int8_matmul: false,
        }
    }
}

/// A sentence embedder (for example all-MiniLM-L6-v2) loaded from a local directory.
///
/// Vectors are L2-normalised. [`Embedder::embed`] is synchronous and CPU-bound: call it
/// from `tokio::task::spawn_blocking` in async code. Calls are serialised internally
/// (the ONNX session needs exclusive access), so one `Embedder` can be shared behind an
/// `Arc` by many tasks.
pub struct Embedder {
    model: Mutex<TextEmbedding>,
    /// Same vocabulary as the model's, but without truncation or padding, so that token
    /// counts are exact for texts of any length.
    counting_tokenizer: tokenizers::Tokenizer,
    batch_size: usize,
    max_length: usize,
    /// Text tokens per window: `max_length` less the special tokens the model adds.
    window_tokens: usize,
    dimension: usize,
    model_id: String,
    int8_products: usize,
}

impl std::fmt::Debug for Embedder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Embedder")
            .field("model_id", &self.model_id)
            .field("dimension", &self.dimension)
            .field("max_length", &self.max_length)
            .field("batch_size", &self.batch_size)
            .finish_non_exhaustive()
    }
}

impl Embedder {
    /// Loads the model in `model_dir` (`model.onnx`, `tokenizer.json`, `config.json`,
    /// `special_tokens_map.json`, `tokenizer_config.json`) on the ONNX Runtime library at
    /// `ort_dylib` (for example `libonnxruntime.so.1.31.1` from the PyPI `onnxruntime` wheel).
    ///
    /// The library is checked before `ort` touches it (it would panic otherwise): it must
    /// exist and be ONNX Runtime 1.24 or newer. Pooling is mean pooling (sentence-transformers
    /// models), unless the model directory holds a sentence-transformers
    /// `1_Pooling/config.json` that asks for the CLS token.
    pub fn load(
        model_dir: &Path,
        ort_dylib: &Path,
        options: EmbedderOptions,
    ) -> Result<Self, IndexError> {
        if options.batch_size == 0 || options.max_length == 0 || options.threads == Some(0) {
            return Err(IndexError::InvalidInput(format!(
                "embedder options must be positive, got {options:?}"
            )));
        }
        init_onnx_runtime(ort_dylib)?;

        let read = |name: &str| {
            let path = model_dir.join(name);
            std::fs::read(&path).map_err(|source| IndexError::ModelFile { path, source })
        };
        let mut onnx_file = read("model.onnx")?;
        let mut int8_products = 0;
        if options.int8_matmul {
            let rewritten = crate::int8_matmul::rewrite(&onnx_file)?;
            if rewritten.products == 0 {
                tracing::warn!(
                    model = %model_dir.display(),
                    "int8 matrix products asked for, but the model stores no int8 weights; it runs as stored"
                );
            }
            int8_products = rewritten.products;
            onnx_file = rewritten.model;
        }
        let tokenizer_file = read("tokenizer.json")?;
        let tokenizer_config_file = read("tokenizer_config.json")?;
        let tokenizer_files = TokenizerFiles {
            tokenizer_file: tokenizer_file.clone(),
            config_file: read("config.json")?,
            special_tokens_map_file: read("special_tokens_map.json")?,
            tokenizer_config_file: tokenizer_config_file.clone(),
        };
        let pooling = pooling_for(model_dir);
        let max_length = effective_max_length(options.max_length, &tokenizer_config_file);
        let model_id = model_id(model_dir, &onnx_file, &tokenizer_file, max_length, &pooling);

        let user_model =
            UserDefinedEmbeddingModel::new(onnx_file, tokenizer_files).with_pooling(pooling);
        let mut init = InitOptionsUserDefined::new().with_max_length(max_length);
        if let Some(threads) = options.threads {
            init = init.with_intra_threads(threads);
        }
        let mut model = catch_unwind(AssertUnwindSafe(|| {
            TextEmbedding::try_new_from_user_defined(user_model, init)
        }))
        .map_err(|panic| IndexError::OnnxRuntime {
            path: ort_dylib.to_path_buf(),
            reason: format!(
                "creating the ONNX session panicked: {}",
                panic_message(&panic)
            ),
        })??;

        // One real inference: yields the dimension and proves the model runs here
        // before any ingestion job depends on it.
        let probe = model.embed(["dimension probe"], Some(1))?;
        let dimension = probe.first().map(Vec::len).unwrap_or(0);
        if dimension == 0 {
            return Err(IndexError::InvalidInput(format!(
                "model in {} produced an empty embedding",
                model_dir.display()
            )));
        }

        let mut counting_tokenizer = tokenizers::Tokenizer::from_bytes(&tokenizer_file)
            .map_err(|error| IndexError::Tokenizer(error.to_string()))?;
        counting_tokenizer
            .with_truncation(None)
            .map_err(|error| IndexError::Tokenizer(error.to_string()))?;
        counting_tokenizer.with_padding(None);
        let special_tokens = counting_tokenizer
            .encode("", true)
            .map_err(|error| IndexError::Tokenizer(error.to_string()))?
            .len();
        let window_tokens = max_length.saturating_sub(special_tokens).max(1);

        Ok(Self {
            model: Mutex::new(model),
            counting_tokenizer,
            batch_size: options.batch_size,
            max_length,
            window_tokens,
            dimension,
            model_id,
            int8_products,
        })
    }

    /// Embeds `texts`, one L2-normalised vector per text, in input order.
    ///
    /// A text longer than the model's window is not truncated: it is embedded as evenly
    /// spaced, overlapping windows that together cover every token, and its vector is the
    /// normalised mean of theirs, so a chunk's tail counts as much as its head.
    pub fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, IndexError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let mut pieces: Vec<String> = Vec::with_capacity(texts.len());
        let mut owners: Vec<usize> = Vec::with_capacity(texts.len());
        for (owner, text) in texts.iter().enumerate() {
            for window in self.windows(text) {
                pieces.push(window);
                owners.push(owner);
            }
        }
        let vectors = {
            let mut model = self
                .model
                .lock()
                .map_err(|_: PoisonError<_>| IndexError::Poisoned("embedder"))?;
            model.embed(&pieces, Some(self.batch_size))?
        };
        if vectors.len() != pieces.len() {
            return Err(IndexError::Corrupt(format!(
                "embedder returned {} vectors for {} texts",
                vectors.len(),
                pieces.len()
            )));
        }
        if pieces.len() == texts.len() {
            return Ok(vectors);
        }
        let mut sums = vec![vec![0.0f32; self.dimension]; texts.len()];
        for (vector, &owner) in vectors.iter().zip(&owners) {
            for (sum, x) in sums[owner].iter_mut().zip(vector) {
                *sum += x;
            }
        }
        for sum in &mut sums {
            let norm = sum.iter().map(|x| x * x).sum::<f32>().sqrt();
            if norm > 0.0 {
                sum.iter_mut().for_each(|x| *x /= norm);
            }
        }
        Ok(sums)
    }

    /// Embeds a query: its first window only. A query is a request's input, so its
    /// cost must not grow with its length: a long one embedded window by window
    /// (as [`Embedder::embed`] does for passages) holds the shared ONNX session for
    /// every other search meanwhile.
    pub fn embed_query(&self, query: &str) -> Result<Vec<f32>, IndexError> {
        let first_window = self.first_window(query).to_string();
        self.embed(&[first_window])?
            .pop()
            .ok_or_else(|| IndexError::Corrupt("the embedder returned no vector".into()))
    }

    /// The longest prefix of `text` that fits one window, cut before the word that
    /// would cross it (a word cut in two re-tokenises into more pieces).
    pub fn first_window<'a>(&self, text: &'a str) -> &'a str {
        if text.len() <= self.window_tokens {
            return text;
        }
        // Tokenising costs as much as the text is long: look at no more than a window
        // of generous tokens (a window of whitespace-separated pieces rarely needs it).
        let mut look = text.len().min(self.window_tokens * BYTES_PER_TOKEN_BOUND);
        while !text.is_char_boundary(look) {
            look -= 1;
        }
        let text = &text[..look];
        let Ok(encoding) = self.counting_tokenizer.encode(text, false) else {
            return text;
        };
        let (offsets, words) = (encoding.get_offsets(), encoding.get_word_ids());
        let mut cut = self.window_tokens;
        if cut >= offsets.len() {
            return text;
        }
        while cut > 0 && words[cut].is_some() && words[cut] == words[cut - 1] {
            cut -= 1;
        }
        // One word longer than the window: cut inside it rather than return nothing.
        let end = if cut == 0 {
            offsets[self.window_tokens - 1].1
        } else {
            offsets[cut].0
        };
        text.get(..end).unwrap_or(text).trim_end()
    }

    /// The texts `text` is embedded as: itself when it fits the model's window, else its
    /// windows (each starting at a word boundary) as slices of the original text.
    fn windows(&self, text: &str) -> Vec<String> {
        self.split(text, self.window_tokens)
            .unwrap_or_else(|| vec![text.to_string()])
    }

    /// `text` as the fewest evenly spaced windows of at most `window` tokens that cover it,
    /// each starting on a word and sliced from the original text; `None` when it fits in
    /// one window (or cannot be split).
    fn split(&self, text: &str, window: usize) -> Option<Vec<String>> {
        // Every token covers at least one byte, so a text this short fits without
        // tokenising it (queries, most chunks at the default window).
        if text.len() <= window {
            return None;
        }
        let encoding = self.counting_tokenizer.encode(text, false).ok()?;
        let offsets = encoding.get_offsets();
        let words = encoding.get_word_ids();
        let ranges = window_ranges(offsets.len(), window);
        if ranges.len() <= 1 {
            return None;
        }
        let mut windows = Vec::with_capacity(ranges.len());
        for range in ranges {
            let mut start = range.start;
            // A window that began on a word piece would re-tokenise as a different word.
            while start > 0 && words[start].is_some() && words[start] == words[start - 1] {
                start -= 1;
            }
            let (first, last) = (offsets.get(start)?, offsets.get(range.end - 1)?);
            windows.push(text.get(first.0..last.1)?.to_string());
        }
        Some(windows)
    }

    /// Embeds each text's passage windows: for a text longer than `window` tokens (capped
    /// by the model's window), one vector per window of the fewest evenly spaced, overlapping
    /// windows that cover it; nothing for a text that fits one window. With the whole
    /// text's vector they let a chunk be found by its best-matching part (MaxP): a long
    /// chunk's single vector blurs a clause that only part of it is about.
    pub fn embed_passage_windows(
        &self,
        texts: &[String],
        window: usize,
    ) -> Result<Vec<Vec<Vec<f32>>>, IndexError> {
        let window = window.clamp(1, self.window_tokens);
        let mut pieces: Vec<String> = Vec::new();
        let mut owners: Vec<usize> = Vec::new();
        for (owner, text) in texts.iter().enumerate() {
            for piece in self.split(text, window).unwrap_or_default() {
                pieces.push(piece);
                owners.push(owner);
            }
        }
        let vectors = self.embed(&pieces)?;
        let mut out = vec![Vec::new(); texts.len()];
        for (vector, owner) in vectors.into_iter().zip(owners) {
            out[owner].push(vector);
        }
        Ok(out)
    }

    /// A cache key for [`Embedder::embed_passage_windows`] vectors: the model id and the
    /// window, so whole-text vectors stay cached when only the window changes.
    pub fn passage_windows_id(&self, window: usize) -> String {
        let window = window.clamp(1, self.window_tokens);
        format!("{}/{PASSAGE_WINDOW_SCHEME}-{window}", self.model_id)
    }

    /// Matrix products that run in int8 ([`EmbedderOptions::int8_matmul`]); 0 when off.
    pub fn int8_products(&self) -> usize {
        self.int8_products
    }

    /// Length of the vectors [`Embedder::embed`] returns.
    pub fn dimension(&self) -> usize {
        self.dimension
    }

    /// Tokens the model sees at once; longer texts are embedded in several windows.
    pub fn max_length(&self) -> usize {
        self.max_length
    }

    /// A stable identifier of everything that determines the vectors: the model directory
    /// name plus a SHA-256 over the ONNX file, the tokenizer, the max length and the pooling.
    /// Use it to key an embedding cache: a different file yields a different id.
    pub fn model_id(&self) -> String {
        self.model_id.clone()
    }
}

impl TokenCounter for Embedder {
    /// Counts tokens with the model's own tokenizer, special tokens excluded, no truncation.
    fn count_tokens(&self, text: &str) -> usize {
        match self.counting_tokenizer.encode(text, false) {
            Ok(encoding) => encoding.len(),
            Err(error) => {
                // Only a malformed tokenizer can fail here; an estimate keeps chunking going.
                tracing::warn!(%error, "tokenizer failed, estimating the token count");
                ApproxTokenCounter.count_tokens(text)
            }
        }
    }
}

/// Which ONNX Runtime library this process uses: ort loads exactly one per process.
static LOADED_RUNTIME: Mutex<Option<PathBuf>> = Mutex::new(None);

/// Points `ort` at `dylib` once per process, refusing what would make `ort` panic later.
fn init_onnx_runtime(dylib: &Path) -> Result<(), IndexError> {
    let fail = |reason: String| IndexError::OnnxRuntime {
        path: dylib.to_path_buf(),
        reason,
    };
    let metadata = std::fs::metadata(dylib).map_err(|error| {
        fail(format!(
            "cannot read the library ({error}); install the `onnxruntime` wheel (>= 1.{MIN_ONNX_RUNTIME_MINOR}) and point the config at its libonnxruntime.so"
        ))
    })?;
    if !metadata.is_file() {
        return Err(fail("not a file".into()));
    }
    if let Some((major, minor, full)) = version_from_file_name(dylib) {
        if major != 1 || minor < MIN_ONNX_RUNTIME_MINOR {
            return Err(fail(format!(
                "version {full} is not supported; ONNX Runtime 1.{MIN_ONNX_RUNTIME_MINOR} or newer (1.x) is required"
            )));
        }
    }
    let canonical = std::fs::canonicalize(dylib).map_err(|error| fail(error.to_string()))?;

    let mut loaded = LOADED_RUNTIME
        .lock()
        .unwrap_or_else(PoisonError::into_inner);
    if let Some(previous) = loaded.as_ref() {
        if *previous == canonical {
            return Ok(());
        }
        return Err(fail(format!(
            "this process already uses ONNX Runtime from {}; one process can load only one",
            previous.display()
        )));
    }
    // ort reads the library's own version string here and rejects anything older than
    // its API level, which also covers files whose name carries no version.
    match catch_unwind(|| ort::init_from(&canonical).map(drop)) {
        Ok(Ok(())) => {
            *loaded = Some(canonical);
            Ok(())
        }
        Ok(Err(error)) => Err(fail(error.to_string())),
        Err(panic) => Err(fail(format!("loading panicked: {}", panic_message(&panic)))),
    }
}

/// Reads `(major, minor, "major.minor.patch")` from names such as `libonnxruntime.so.1.31.1`
/// or `libonnxruntime.1.31.1.dylib`; `None` when the name carries no version.
fn version_from_file_name(path: &Path) -> Option<(u32, u32, String)> {
    let name = path.file_name()?.to_str()?;
    let after = &name[name.find("onnxruntime")? + "onnxruntime".len()..];
    let numbers: Vec<&str> = after
        .split('.')
        .skip_while(|part| part.parse::<u32>().is_err())
        .take_while(|part| part.parse::<u32>().is_ok())
        .collect();
    if numbers.len() < 2 {
        return None;
    }
    let major = numbers[0].parse().ok()?;
    let minor = numbers[1].parse().ok()?;
    Some((major, minor, numbers.join(".")))
}

fn panic_message(panic: &(dyn std::any::Any + Send)) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

/// sentence-transformers models record their pooling in `1_Pooling/config.json`; most
/// (MiniLM, mpnet, e5) use mean pooling, which is also the default when the file is absent.
fn pooling_for(model_dir: &Path) -> Pooling {
    let config = std::fs::read(model_dir.join("1_Pooling").join("config.json"))
        .ok()
        .and_then(|bytes| serde_json::from_slice::<serde_json::Value>(&bytes).ok());
    match config {
        Some(config) if config["pooling_mode_cls_token"].as_bool() == Some(true) => Pooling::Cls,
        _ => Pooling::Mean,
    }
}

fn effective_max_length(requested: usize, tokenizer_config: &[u8]) -> usize {
    let model_limit = serde_json::from_slice::<serde_json::Value>(tokenizer_config)
        .ok()
        .and_then(|config| config["model_max_length"].as_f64())
        .filter(|limit| *limit >= 1.0)
        .map(|limit| limit.min(usize::MAX as f64) as usize);
    model_limit.map_or(requested, |limit| requested.min(limit))
}

/// Token ranges of the windows a text of `tokens` tokens is embedded as: the whole text
/// when it fits in `window`, otherwise the fewest windows of `window` tokens that cover
/// it, spread evenly so that neighbours overlap by the same amount.
fn window_ranges(tokens: usize, window: usize) -> Vec<Range<usize>> {
    let window = window.max(1);
    if tokens <= window {
        return std::iter::once(0..tokens).collect();
    }
    let count = tokens.div_ceil(window);
    let slack = tokens - window;
    (0..count)
        .map(|i| {
            let start = (i * slack + (count - 1) / 2) / (count - 1);
            start..start + window
        })
        .collect()
}

/// Bumped when the way texts become vectors changes, so cached vectors are not reused.
const EMBEDDING_SCHEME: &str = "windows-mean-v1";
/// Bumped when the way passage windows are laid out or embedded changes.
const PASSAGE_WINDOW_SCHEME: &str = "passage-windows-v1";

fn model_id(
    model_dir: &Path,
    onnx: &[u8],
    tokenizer: &[u8],
    max_length: usize,
    pooling: &Pooling,
) -> String {
    let mut hasher = Sha256::new();
    hasher.update(onnx);
    hasher.update(tokenizer);
    hasher.update(max_length.to_le_bytes());
    hasher.update(format!("{pooling:?}").as_bytes());
    hasher.update(EMBEDDING_SCHEME.as_bytes());
    let digest = hex::encode(hasher.finalize());
    let name = model_dir
        .file_name()
        .and_then(|name| name.to_str())
        .unwrap_or("model");
    format!("{name}@{}", &digest[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_library_names() {
        let v = |name: &str| version_from_file_name(Path::new(name)).map(|(a, b, _)| (a, b));
        assert_eq!(v("/x/libonnxruntime.so.1.31.1"), Some((1, 31)));
        assert_eq!(v("libonnxruntime.so.1.16.3"), Some((1, 16)));
        assert_eq!(v("libonnxruntime.1.24.0.dylib"), Some((1, 24)));
        assert_eq!(v("libonnxruntime.so"), None);
        assert_eq!(v("libonnxruntime.so.1"), None);
        assert_eq!(v("other.so.1.2.3"), None);
    }

    #[test]
    fn max_length_is_capped_by_the_model() {
        assert_eq!(
            effective_max_length(256, br#"{"model_max_length": 512}"#),
            256
        );
        assert_eq!(
            effective_max_length(1024, br#"{"model_max_length": 512}"#),
            512
        );
        assert_eq!(
            effective_max_length(1024, br#"{"model_max_length": 1e30}"#),
            1024
        );
        assert_eq!(effective_max_length(300, b"not json"), 300);
    }

    #[test]
    fn short_texts_are_one_window() {
        let whole = |tokens: usize| std::iter::once(0..tokens).collect::<Vec<_>>();
        assert_eq!(window_ranges(0, 254), whole(0));
        assert_eq!(window_ranges(254, 254), whole(254));
    }

    #[test]
    fn long_texts_get_the_fewest_even_windows_that_cover_them() {
        assert_eq!(window_ranges(300, 254), vec![0..254, 46..300]);
        assert_eq!(window_ranges(600, 254), vec![0..254, 173..427, 346..600]);
    }

    proptest::proptest! {
        #[test]
        fn windows_cover_every_token_within_the_limit(tokens in 0usize..5_000, window in 1usize..600) {
            let ranges = window_ranges(tokens, window);
            proptest::prop_assert_eq!(ranges.len(), tokens.div_ceil(window).max(1));
            proptest::prop_assert_eq!(ranges[0].start, 0);
            proptest::prop_assert_eq!(ranges.last().map(|r| r.end), Some(tokens));
            for pair in ranges.windows(2) {
                proptest::prop_assert!(pair[1].start <= pair[0].end, "no gap: {:?}", pair);
                proptest::prop_assert!(pair[1].start > pair[0].start);
            }
            for range in &ranges {
                proptest::prop_assert!(range.len() <= window);
            }
        }
    }

    #[test]
    fn model_id_changes_with_the_onnx_file() {
        let dir = Path::new("/models/all-minilm-l6-v2");
        let a = model_id(dir, b"onnx-a", b"tok", 256, &Pooling::Mean);
        let b = model_id(dir, b"onnx-b", b"tok", 256, &Pooling::Mean);
        assert_ne!(a, b);
        assert_eq!(a, model_id(dir, b"onnx-a", b"tok", 256, &Pooling::Mean));
        assert!(a.starts_with("all-minilm-l6-v2@"));
    }
}
