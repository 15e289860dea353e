//! Hugging Face model directories: `config.json` plus `*.safetensors` weights
//! (llama and qwen2 families), read through the decoder's GGUF tensor names.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Tensor};
use serde_json::Value;

use super::decoder::{Family, Hyper, Llama3RopeScaling, WeightSource};
use super::LlmWeights;
use crate::LlmError;

fn invalid(dir: &Path, reason: impl Into<String>) -> LlmError {
    LlmError::InvalidModelDirectory {
        path: dir.to_path_buf(),
        reason: reason.into(),
    }
}

/// Reads `config.json` into the decoder's hyper-parameters.
pub(crate) fn read_hyper(dir: &Path) -> Result<Hyper, LlmError> {
    let path = dir.join("config.json");
    let text = std::fs::read_to_string(&path).map_err(|source| LlmError::Open {
        path: path.clone(),
        source,
    })?;
    let config: Value = serde_json::from_str(&text)
        .map_err(|e| invalid(&path, format!("config.json does not parse: {e}")))?;
    hyper_from_config(&config).map_err(|reason| invalid(&path, reason))
}

/// Hyper-parameters from a parsed `config.json` (transformers 4 and 5 layouts:
/// `rope_theta` + `rope_scaling`, or `rope_parameters`).
pub(crate) fn hyper_from_config(config: &Value) -> Result<Hyper, String> {
    let architecture = config["model_type"]
        .as_str()
        .ok_or("config.json has no model_type")?
        .to_string();
    let family = match architecture.as_str() {
        "llama" => Family::Llama,
        "qwen2" => Family::Qwen2,
        other => {
            return Err(format!(
                "model_type {other:?} is not supported from safetensors (llama, qwen2)"
            ))
        }
    };
    let count = |key: &str| -> Result<usize, String> {
        config[key]
            .as_u64()
            .map(|v| v as usize)
            .ok_or_else(|| format!("config.json has no integer {key}"))
    };
    let hidden = count("hidden_size")?;
    let heads = count("num_attention_heads")?;
    let kv_heads = count("num_key_value_heads").unwrap_or(heads);
    let head_dim = count("head_dim").unwrap_or(hidden / heads.max(1));
    let rope = if config["rope_parameters"].is_object() {
        &config["rope_parameters"]
    } else {
        &config["rope_scaling"]
    };
    let rope_base = config["rope_parameters"]["rope_theta"]
        .as_f64()
        .or_else(|| config["rope_theta"].as_f64())
        .unwrap_or(10_000.0) as f32;
    let rope_type = rope["rope_type"]
        .as_str()
        .or_else(|| rope["type"].as_str())
        .unwrap_or("default");
    let rope_scaling = match rope_type {
        "default" => None,
        "llama3" => {
            let number = |key: &str| {
                rope[key]
                    .as_f64()
                    .map(|v| v as f32)
                    .ok_or_else(|| format!("llama3 rope scaling without {key}"))
            };
            Some(Llama3RopeScaling {
                factor: number("factor")?,
                low_freq_factor: number("low_freq_factor")?,
                high_freq_factor: number("high_freq_factor")?,
                original_context: number("original_max_position_embeddings")?,
            })
        }
        other => return Err(format!("rope type {other:?} is not supported")),
    };
    if config["use_sliding_window"].as_bool() == Some(true) {
        return Err("sliding-window attention is not supported for qwen2".into());
    }
    Ok(Hyper {
        family,
        layers: count("num_hidden_layers")?,
        heads,
        kv_heads,
        head_dim,
        hidden,
        rms_eps: config["rms_norm_eps"].as_f64().unwrap_or(1e-6),
        rope_base,
        rope_base_local: rope_base,
        sliding_window: None,
        sliding_pattern: 0,
        context_length: count("max_position_embeddings").unwrap_or(2048),
        final_softcap: None,
        rope_interleaved: false,
        rope_scaling,
        architecture,
    })
}

/// The Hugging Face name of a decoder tensor (`None`: this family has none).
fn hf_name(gguf: &str) -> Option<String> {
    let fixed = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(name) = fixed {
        return Some(name.to_string());
    }
    let rest = gguf.strip_prefix("blk.")?;
    let (layer, part) = rest.split_once('.')?;
    let (module, kind) = part.rsplit_once('.')?;
    let module = match module {
        "attn_norm" => "input_layernorm",
        "ffn_norm" => "post_attention_layernorm",
        "attn_q" => "self_attn.q_proj",
        "attn_k" => "self_attn.k_proj",
        "attn_v" => "self_attn.v_proj",
        "attn_output" => "self_attn.o_proj",
        "ffn_gate" => "mlp.gate_proj",
        "ffn_up" => "mlp.up_proj",
        "ffn_down" => "mlp.down_proj",
        _ => return None,
    };
    Some(format!("model.layers.{layer}.{module}.{kind}"))
}

/// Every tensor of a model directory's safetensors files, loaded onto the device.
pub(crate) struct HfWeights {
    tensors: HashMap<String, Tensor>,
    device: Device,
    format: LlmWeights,
}

impl HfWeights {
    /// Loads `*.safetensors` of `dir` (one file or shards).
    pub(crate) fn load(dir: &Path, device: &Device, format: LlmWeights) -> Result<Self, LlmError> {
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir)
            .map_err(|source| LlmError::Open {
                path: dir.to_path_buf(),
                source,
            })?
            .filter_map(|entry| entry.ok().map(|e| e.path()))
            .filter(|p| p.extension().is_some_and(|e| e == "safetensors"))
            .collect();
        files.sort();
        if files.is_empty() {
            return Err(invalid(dir, "no .safetensors file in the model directory"));
        }
        let mut tensors = HashMap::new();
        for file in &files {
            // Kept on the host first: the dtype conversion below then runs once,
            // on the device.
            tensors.extend(candle_core::safetensors::load(file, &Device::Cpu)?);
        }
        Ok(Self {
            tensors,
            device: device.clone(),
            format,
        })
    }

    fn tensor(&self, gguf: &str) -> Result<Tensor, LlmError> {
        hf_name(gguf)
            .and_then(|name| self.tensors.get(&name))
            .cloned()
            .ok_or_else(|| LlmError::InvalidRequest(format!("the model has no tensor for {gguf}")))
    }

    fn compute_dtype(&self, stored: DType) -> DType {
        match self.format {
            LlmWeights::Stored => stored,
            other => super::compute_dtype(other),
        }
    }
}

impl WeightSource for HfWeights {
    fn has(&self, name: &str) -> bool {
        hf_name(name).is_some_and(|n| self.tensors.contains_key(&n))
    }

    fn dense(&mut self, name: &str) -> Result<Tensor, LlmError> {
        let tensor = self.tensor(name)?;
        let dtype = self.compute_dtype(tensor.dtype());
        Ok(tensor.to_device(&self.device)?.to_dtype(dtype)?)
    }

    fn matmul(&mut self, name: &str) -> Result<QMatMul, LlmError> {
        let tensor = self.tensor(name)?;
        if self.format == LlmWeights::Q8_0 {
            let dense = tensor.to_dtype(DType::F32)?;
            let cols = dense.dims().last().copied().unwrap_or(0);
            if cols.is_multiple_of(GgmlDType::Q8_0.block_size()) {
                let quantized =
                    QTensor::quantize(&dense.to_device(&self.device)?, GgmlDType::Q8_0)?;
                return Ok(QMatMul::from_qtensor(quantized)?);
            }
        }
        let dtype = self.compute_dtype(tensor.dtype());
        Ok(QMatMul::Tensor(
            tensor.to_device(&self.device)?.to_dtype(dtype)?,
        ))
    }
}

/// The compute dtype a model directory implies for `Stored` weights.
pub(crate) fn stored_dtype(weights: &HfWeights) -> DType {
    weights
        .tensors
        .get("model.embed_tokens.weight")
        .map_or(DType::F32, |t| t.dtype())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn gguf_names_map_to_hugging_face_names() {
        assert_eq!(
            hf_name("blk.7.attn_q.bias").as_deref(),
            Some("model.layers.7.self_attn.q_proj.bias")
        );
        assert_eq!(
            hf_name("blk.0.ffn_norm.weight").as_deref(),
            Some("model.layers.0.post_attention_layernorm.weight")
        );
        assert_eq!(hf_name("output.weight").as_deref(), Some("lm_head.weight"));
        assert_eq!(
            hf_name("blk.3.post_attention_norm.weight"),
            None,
            "gemma only"
        );
    }

    #[test]
    fn llama3_configs_of_both_transformers_layouts_give_the_same_rope() {
        let v4 = serde_json::json!({
            "model_type": "llama", "hidden_size": 2048, "num_attention_heads": 32,
            "num_key_value_heads": 8, "num_hidden_layers": 16, "rms_norm_eps": 1e-5,
            "max_position_embeddings": 131072, "rope_theta": 500000.0,
            "rope_scaling": {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                              "high_freq_factor": 4.0, "original_max_position_embeddings": 8192}
        });
        let v5 = serde_json::json!({
            "model_type": "llama", "hidden_size": 2048, "num_attention_heads": 32,
            "num_key_value_heads": 8, "num_hidden_layers": 16, "rms_norm_eps": 1e-5,
            "max_position_embeddings": 131072,
            "rope_parameters": {"rope_type": "llama3", "rope_theta": 500000.0, "factor": 32.0,
                                "low_freq_factor": 1.0, "high_freq_factor": 4.0,
                                "original_max_position_embeddings": 8192}
        });
        let a = hyper_from_config(&v4).expect("v4 layout");
        let b = hyper_from_config(&v5).expect("v5 layout");
        assert_eq!(a.rope_base, 500_000.0);
        assert_eq!(a.rope_scaling, b.rope_scaling);
        assert_eq!(a.rope_base, b.rope_base);
        assert_eq!(a.head_dim, 64);
        let scaling = a.rope_scaling.expect("llama3 scaling");
        // Short wavelengths are untouched; the longest are divided by the factor.
        assert_eq!(scaling.apply(1.0), 1.0);
        let slow = 1.0 / 500_000f32.powf(62.0 / 64.0);
        assert!((scaling.apply(slow) - slow / 32.0).abs() < 1e-12);
    }

    #[test]
    fn unsupported_families_are_named() {
        let config = serde_json::json!({"model_type": "mistral", "hidden_size": 8});
        let err = hyper_from_config(&config).expect_err("mistral is refused");
        assert!(err.contains("mistral"), "{err}");
    }
}
