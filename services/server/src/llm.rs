//! Loading the local language model named by the configuration.

use std::sync::Arc;

use anyhow::{bail, Result};
use folio_common::config::FolioConfig;
use folio_llm::LanguageModel;

/// The model XL3M scores with.
pub fn load_scoring_model(config: &FolioConfig) -> Result<Arc<dyn LanguageModel>> {
    bail!(
        "no scoring backend is built in yet (model file {})",
        config.llm_gguf_path().display()
    )
}
