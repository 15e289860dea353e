//! Loading the local language model named by the configuration.

use std::sync::Arc;

use anyhow::{Context, Result};
use folio_common::config::FolioConfig;
use folio_llm::{CandleModel, CandleOptions, LanguageModel};

/// The model XL3M scores with: the configured GGUF file or model directory, on
/// candle, on the configured device.
pub fn load_scoring_model(config: &FolioConfig) -> Result<Arc<dyn LanguageModel>> {
    let path = config.llm_model_path();
    let options = CandleOptions {
        weights: config.models.llm_weights,
        max_batch_tokens: config.models.llm_max_batch_tokens.max(1),
        device: config.models.llm_device,
    };
    let model = CandleModel::load(&path, options).with_context(|| {
        format!(
            "loading the local model {} on {} (run `folio models fetch` first?)",
            path.display(),
            config.models.llm_device
        )
    })?;
    Ok(Arc::new(model))
}
