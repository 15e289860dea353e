//! Loading the local language model named by the configuration.

use std::sync::Arc;

use anyhow::{Context, Result};
use folio_common::config::{FolioConfig, LlmDevice, LlmWeights};
use folio_llm::{CandleModel, CandleOptions, DeviceSpec, LanguageModel, WeightFormat};

/// The model XL3M scores with: the configured GGUF file or model directory, on
/// candle, on the configured device.
pub fn load_scoring_model(config: &FolioConfig) -> Result<Arc<dyn LanguageModel>> {
    let path = config.llm_model_path();
    let options = CandleOptions {
        weights: weight_format(config.models.llm_weights),
        max_batch_tokens: config.models.llm_max_batch_tokens.max(1),
        device: device_spec(config.models.llm_device),
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

fn weight_format(weights: LlmWeights) -> WeightFormat {
    match weights {
        LlmWeights::F32 => WeightFormat::F32,
        LlmWeights::Q8_0 => WeightFormat::Q8_0,
        LlmWeights::Stored => WeightFormat::Stored,
        LlmWeights::Bf16 => WeightFormat::Bf16,
        LlmWeights::F16 => WeightFormat::F16,
    }
}

fn device_spec(device: LlmDevice) -> DeviceSpec {
    match device {
        LlmDevice::Cpu => DeviceSpec::Cpu,
        LlmDevice::Cuda(ordinal) => DeviceSpec::Cuda(ordinal),
    }
}
