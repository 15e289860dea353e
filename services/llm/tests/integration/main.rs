//! Integration tests of folio-llm on the real default model (SmolLM2-135M GGUF).
//! Each test skips, saying why, when the model has not been fetched.

mod gemma;
mod generation;
mod openai;
mod qwen2;
mod safetensors;
mod scoring;
mod tokenizer;

use std::path::PathBuf;
use std::sync::OnceLock;

use folio_llm::{CandleModel, CandleOptions, LanguageModel, ScoreInput};

pub fn smollm2_path() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../models/smollm2-135m-instruct/SmolLM2-135M-Instruct.Q4_1.gguf")
}

/// The default model, loaded once per test binary; `None` when absent.
pub fn smollm2() -> Option<&'static CandleModel> {
    static MODEL: OnceLock<Option<CandleModel>> = OnceLock::new();
    MODEL
        .get_or_init(|| {
            let path = smollm2_path();
            if !path.exists() {
                eprintln!(
                    "{} absent (run `folio models fetch`): skipped",
                    path.display()
                );
                return None;
            }
            Some(CandleModel::load(&path, CandleOptions::default()).expect("SmolLM2 loads"))
        })
        .as_ref()
}

/// Asserts the model prefers the right continuation of each prefix by a margin:
/// a wrong rotary pairing, norm or mask leaves a model fluent-looking but ignorant.
pub fn assert_knows(model: &CandleModel, cases: &[(&str, &str, &str)]) {
    for (prefix, right, wrong) in cases {
        let scores = model
            .score(&[
                ScoreInput::new(*prefix, *right),
                ScoreInput::new(*prefix, *wrong),
            ])
            .unwrap();
        assert!(
            scores[0].logprobs[0] > scores[1].logprobs[0] + 1.0,
            "{prefix:?}: {right:?} {} vs {wrong:?} {}",
            scores[0].logprobs[0],
            scores[1].logprobs[0]
        );
    }
}
