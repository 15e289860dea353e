//! A decoder-only transformer (llama, qwen2, gemma3 families) that returns hidden
//! states at every position, so scoring can read the distribution at any token.

use candle_core::quantized::{gguf_file, GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, Module, Tensor, D};

use super::{attention, elementwise, LlmWeights};
use crate::LlmError;

/// Architecture family, from `general.architecture`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Family {
    Llama,
    Qwen2,
    Gemma3,
}

/// Hyper-parameters read from GGUF metadata.
#[derive(Debug, Clone)]
pub(crate) struct Hyper {
    pub family: Family,
    pub architecture: String,
    pub layers: usize,
    pub heads: usize,
    pub kv_heads: usize,
    pub head_dim: usize,
    pub hidden: usize,
    pub rms_eps: f64,
    pub rope_base: f32,
    pub rope_base_local: f32,
    pub sliding_window: Option<usize>,
    pub sliding_pattern: usize,
    pub context_length: usize,
    pub final_softcap: Option<f64>,
    /// Rotary pairing of adjacent dimensions (llama.cpp's permuted GGUF llama
    /// weights) instead of the half-split (NeoX) pairing of Hugging Face weights.
    pub rope_interleaved: bool,
    /// Llama 3's stretching of the low rotary frequencies.
    pub rope_scaling: Option<Llama3RopeScaling>,
}

/// Llama 3's rotary frequency scaling (`rope_type = "llama3"`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Llama3RopeScaling {
    pub factor: f32,
    pub low_freq_factor: f32,
    pub high_freq_factor: f32,
    pub original_context: f32,
}

impl Llama3RopeScaling {
    /// Long wavelengths are divided by `factor`, short ones kept, and the band
    /// between interpolated (the rule of Meta's reference code).
    pub(crate) fn apply(&self, inv_freq: f32) -> f32 {
        let wavelength = 2.0 * std::f32::consts::PI / inv_freq;
        let low_wavelength = self.original_context / self.low_freq_factor;
        let high_wavelength = self.original_context / self.high_freq_factor;
        if wavelength < high_wavelength {
            inv_freq
        } else if wavelength > low_wavelength {
            inv_freq / self.factor
        } else {
            let smooth = (self.original_context / wavelength - self.low_freq_factor)
                / (self.high_freq_factor - self.low_freq_factor);
            (1.0 - smooth) * inv_freq / self.factor + smooth * inv_freq
        }
    }
}

impl Hyper {
    pub(crate) fn read(content: &gguf_file::Content) -> Result<Self, LlmError> {
        let architecture =
            crate::gguf::metadata_string(content, "general.architecture").unwrap_or_default();
        let family = match architecture.as_str() {
            "llama" => Family::Llama,
            "qwen2" => Family::Qwen2,
            "gemma3" => Family::Gemma3,
            other => return Err(LlmError::UnsupportedArchitecture(other.to_string())),
        };
        let key = |name: &str| format!("{architecture}.{name}");
        let number = |name: &str| -> Option<f64> {
            let value = content.metadata.get(&key(name))?;
            value
                .to_u32()
                .map(f64::from)
                .or_else(|_| value.to_f32().map(f64::from))
                .or_else(|_| value.to_u64().map(|v| v as f64))
                .or_else(|_| value.to_i32().map(f64::from))
                .or_else(|_| value.to_f64())
                .ok()
        };
        let required = |name: &str| {
            number(name).ok_or_else(|| LlmError::InvalidGguf {
                path: std::path::PathBuf::new(),
                reason: format!("metadata {} is missing", key(name)),
            })
        };
        let hidden = required("embedding_length")? as usize;
        let heads = required("attention.head_count")? as usize;
        let kv_heads = number("attention.head_count_kv").map_or(heads, |v| v as usize);
        let head_dim = number("attention.key_length").map_or(hidden / heads.max(1), |v| v as usize);
        let rope_base = number("rope.freq_base").unwrap_or(10_000.0) as f32;
        let gemma = family == Family::Gemma3;
        Ok(Self {
            family,
            layers: required("block_count")? as usize,
            heads,
            kv_heads,
            head_dim,
            hidden,
            rms_eps: number("attention.layer_norm_rms_epsilon").unwrap_or(1e-6),
            rope_base,
            rope_base_local: number("rope.local_freq_base")
                .map_or(if gemma { 10_000.0 } else { rope_base }, |v| v as f32),
            sliding_window: if gemma {
                number("attention.sliding_window").map(|v| v as usize)
            } else {
                None
            },
            sliding_pattern: number("attention.sliding_window_type").map_or(6, |v| v as usize),
            context_length: number("context_length").map_or(2048, |v| v as usize),
            final_softcap: number("final_logit_softcapping").filter(|v| *v > 0.0),
            // llama.cpp permutes GGUF llama weights for interleaved pairs; qwen2
            // and gemma3 keep the NeoX (half-split) pairing.
            rope_interleaved: family == Family::Llama,
            rope_scaling: None,
            architecture,
        })
    }
}

/// A linear layer in the chosen weight format, with an optional bias.
struct Linear {
    weight: QMatMul,
    bias: Option<Tensor>,
}

#[cfg(test)]
impl Layer {
    /// Sets a sliding layer's window (global layers stay global).
    pub(crate) fn set_window(&mut self, window: Option<usize>) {
        if self.sliding_window.is_some() {
            self.sliding_window = window;
        }
    }
}

impl Linear {
    /// `fused` lets the bias go through the CUDA row kernel.
    fn forward(&self, xs: &Tensor, fused: bool) -> candle_core::Result<Tensor> {
        // One 2-D GEMM over all rows is the fastest CPU path.
        let dims = xs.dims().to_vec();
        let rows: usize = dims[..dims.len() - 1].iter().product();
        let flat = xs.reshape((rows, dims[dims.len() - 1]))?;
        let mut out = self.weight.forward(&flat)?;
        if let Some(bias) = &self.bias {
            out = elementwise::add_bias(&out, bias, fused)?;
        }
        let mut shape = dims;
        let last = shape.len() - 1;
        shape[last] = out.dim(1)?;
        out.reshape(shape)
    }
}

pub(crate) struct Layer {
    attn_norm: Tensor,
    wq: Linear,
    wk: Linear,
    wv: Linear,
    wo: Linear,
    q_norm: Option<Tensor>,
    k_norm: Option<Tensor>,
    post_attn_norm: Option<Tensor>,
    ffn_norm: Tensor,
    gate: Linear,
    up: Linear,
    down: Linear,
    post_ffn_norm: Option<Tensor>,
    sliding_window: Option<usize>,
    local_rope: bool,
}

/// Weights and the forward pass.
pub(crate) struct Decoder {
    pub hyper: Hyper,
    embeddings: Tensor,
    layers: Vec<Layer>,
    output_norm: Tensor,
    output: QMatMul,
    rope: (Tensor, Tensor),
    rope_local: (Tensor, Tensor),
    device: Device,
    dtype: DType,
    /// Folio's CUDA kernels (attention, elementwise fusions) where they apply
    /// (CUDA, bf16/f16); off, candle's own ops compute the same values.
    fused: bool,
}

/// Where the decoder's weights come from, addressed by their GGUF names
/// (`blk.N.attn_q.weight`, …) whatever the file's own naming.
pub(crate) trait WeightSource {
    /// Whether the model has this tensor.
    fn has(&self, name: &str) -> bool;
    /// A tensor, dense, in the compute dtype.
    fn dense(&mut self, name: &str) -> Result<Tensor, LlmError>;
    /// A weight matrix `[out, in]` for matrix products, in the chosen format.
    fn matmul(&mut self, name: &str) -> Result<QMatMul, LlmError>;
}

/// GGUF tensors, dequantized or kept quantized per [`LlmWeights`].
pub(crate) struct GgufWeights<'a, R: std::io::Read + std::io::Seek> {
    pub content: &'a gguf_file::Content,
    pub reader: &'a mut R,
    pub device: &'a Device,
    pub format: LlmWeights,
}

impl<R: std::io::Read + std::io::Seek> GgufWeights<'_, R> {
    fn qtensor(&mut self, name: &str) -> Result<QTensor, LlmError> {
        Ok(self.content.tensor(self.reader, name, self.device)?)
    }
}

impl<R: std::io::Read + std::io::Seek> WeightSource for GgufWeights<'_, R> {
    fn has(&self, name: &str) -> bool {
        self.content.tensor_infos.contains_key(name)
    }

    fn dense(&mut self, name: &str) -> Result<Tensor, LlmError> {
        let dtype = super::compute_dtype(self.format);
        Ok(self
            .qtensor(name)?
            .dequantize(self.device)?
            .to_dtype(dtype)?)
    }

    fn matmul(&mut self, name: &str) -> Result<QMatMul, LlmError> {
        let q = self.qtensor(name)?;
        Ok(to_matmul(q, self.format, self.device)?)
    }
}

impl Decoder {
    fn linear(source: &mut dyn WeightSource, prefix: &str) -> Result<Linear, LlmError> {
        let weight = source.matmul(&format!("{prefix}.weight"))?;
        let bias_name = format!("{prefix}.bias");
        let bias = if source.has(&bias_name) {
            Some(source.dense(&bias_name)?)
        } else {
            None
        };
        Ok(Linear { weight, bias })
    }

    fn optional(source: &mut dyn WeightSource, name: &str) -> Result<Option<Tensor>, LlmError> {
        if source.has(name) {
            Ok(Some(source.dense(name)?))
        } else {
            Ok(None)
        }
    }
}

fn to_matmul(q: QTensor, format: LlmWeights, device: &Device) -> candle_core::Result<QMatMul> {
    match format {
        LlmWeights::F32 => Ok(QMatMul::Tensor(q.dequantize(device)?)),
        LlmWeights::Bf16 | LlmWeights::F16 => Ok(QMatMul::Tensor(
            q.dequantize(device)?
                .to_dtype(super::compute_dtype(format))?,
        )),
        LlmWeights::Q8_0 => {
            let cols = *q.shape().dims().last().unwrap_or(&0);
            if !cols.is_multiple_of(GgmlDType::Q8_0.block_size()) {
                return Ok(QMatMul::Tensor(q.dequantize(device)?));
            }
            let dense = q.dequantize(device)?;
            QMatMul::from_qtensor(QTensor::quantize(&dense, GgmlDType::Q8_0)?)
        }
        LlmWeights::Stored => QMatMul::from_qtensor(q),
    }
}

/// Cosine and sine tables `[length, head_dim / 2]`, computed in f32 and held in
/// `dtype` (as the reference implementations do).
fn rope_tables(
    head_dim: usize,
    base: f32,
    scaling: Option<Llama3RopeScaling>,
    length: usize,
    device: &Device,
    dtype: DType,
) -> candle_core::Result<(Tensor, Tensor)> {
    let inv: Vec<f32> = (0..head_dim)
        .step_by(2)
        .map(|i| 1.0 / base.powf(i as f32 / head_dim as f32))
        .map(|f| scaling.map_or(f, |s| s.apply(f)))
        .collect();
    let inv = Tensor::new(inv.as_slice(), device)?;
    let positions = Tensor::arange(0u32, length as u32, device)?
        .to_dtype(DType::F32)?
        .reshape((length, 1))?;
    let angles = positions.matmul(&inv.reshape((1, head_dim / 2))?)?;
    Ok((
        angles.cos()?.to_dtype(dtype)?,
        angles.sin()?.to_dtype(dtype)?,
    ))
}

impl Decoder {
    /// Builds the decoder from `source`, computing in `dtype`.
    pub(crate) fn load(
        hyper: Hyper,
        source: &mut dyn WeightSource,
        device: &Device,
        dtype: DType,
    ) -> Result<Self, LlmError> {
        let embeddings = source.dense("token_embd.weight")?;
        let output = if source.has("output.weight") {
            source.matmul("output.weight")?
        } else {
            // Tied embeddings.
            source.matmul("token_embd.weight")?
        };
        let output_norm = source.dense("output_norm.weight")?;
        let mut layers = Vec::with_capacity(hyper.layers);
        for index in 0..hyper.layers {
            let p = format!("blk.{index}");
            let sliding = hyper.family == Family::Gemma3
                && hyper.sliding_pattern > 0
                && (index + 1) % hyper.sliding_pattern != 0;
            layers.push(Layer {
                attn_norm: source.dense(&format!("{p}.attn_norm.weight"))?,
                wq: Self::linear(source, &format!("{p}.attn_q"))?,
                wk: Self::linear(source, &format!("{p}.attn_k"))?,
                wv: Self::linear(source, &format!("{p}.attn_v"))?,
                wo: Self::linear(source, &format!("{p}.attn_output"))?,
                q_norm: Self::optional(source, &format!("{p}.attn_q_norm.weight"))?,
                k_norm: Self::optional(source, &format!("{p}.attn_k_norm.weight"))?,
                post_attn_norm: Self::optional(source, &format!("{p}.post_attention_norm.weight"))?,
                ffn_norm: source.dense(&format!("{p}.ffn_norm.weight"))?,
                gate: Self::linear(source, &format!("{p}.ffn_gate"))?,
                up: Self::linear(source, &format!("{p}.ffn_up"))?,
                down: Self::linear(source, &format!("{p}.ffn_down"))?,
                post_ffn_norm: Self::optional(source, &format!("{p}.post_ffw_norm.weight"))?,
                sliding_window: if sliding { hyper.sliding_window } else { None },
                local_rope: sliding,
            });
        }
        let rope = rope_tables(
            hyper.head_dim,
            hyper.rope_base,
            hyper.rope_scaling,
            hyper.context_length,
            device,
            dtype,
        )?;
        let rope_local = if hyper.family == Family::Gemma3 {
            rope_tables(
                hyper.head_dim,
                hyper.rope_base_local,
                None,
                hyper.context_length,
                device,
                dtype,
            )?
        } else {
            rope.clone()
        };
        Ok(Self {
            hyper,
            embeddings,
            layers,
            output_norm,
            output,
            rope,
            rope_local,
            device: device.clone(),
            dtype,
            fused: true,
        })
    }

    /// Turns Folio's fused CUDA kernels off (benchmarks and checks compare
    /// against candle's ops) or back on.
    pub(crate) fn set_fused_kernels(&mut self, on: bool) {
        self.fused = on;
    }

    /// Final hidden states `[batch, len, hidden]` for right-padded `tokens`
    /// (`batch` rows of `len` ids). Padding sits after every real token, so the
    /// causal mask alone keeps it out of every real position.
    pub(crate) fn hidden_states(
        &self,
        tokens: &[u32],
        batch: usize,
        len: usize,
    ) -> candle_core::Result<Tensor> {
        self.forward(tokens, batch, len, None)
    }

    /// Final hidden states `[1, len, hidden]` of `tokens` appended after the
    /// sequence held in `cache` (generation: the prompt once, then a token at a time).
    pub(crate) fn extend(
        &self,
        tokens: &[u32],
        cache: &mut KvCache,
    ) -> candle_core::Result<Tensor> {
        let len = tokens.len();
        self.forward(tokens, 1, len, Some(cache))
    }

    /// Final hidden states `[batch, len, hidden]` of `batch` rows of `len` tokens
    /// appended after the equal-length sequences held in `cache`.
    pub(crate) fn extend_batch(
        &self,
        tokens: &[u32],
        batch: usize,
        cache: &mut KvCache,
    ) -> candle_core::Result<Tensor> {
        let len = tokens.len() / batch.max(1);
        self.forward(tokens, batch, len, Some(cache))
    }

    /// The layers (tests adjust their attention window).
    #[cfg(test)]
    pub(crate) fn layers_mut(&mut self) -> &mut [Layer] {
        &mut self.layers
    }

    /// An empty cache for [`Decoder::extend`].
    pub(crate) fn new_cache(&self) -> KvCache {
        KvCache {
            layers: vec![None; self.layers.len()],
            len: 0,
        }
    }

    fn forward(
        &self,
        tokens: &[u32],
        batch: usize,
        len: usize,
        mut cache: Option<&mut KvCache>,
    ) -> candle_core::Result<Tensor> {
        let h = &self.hyper;
        let offset = cache.as_ref().map_or(0, |c| c.len);
        if offset + len > h.context_length {
            candle_core::bail!(
                "sequence of {} tokens exceeds the context of {}",
                offset + len,
                h.context_length
            );
        }
        let ids = Tensor::from_slice(tokens, (batch, len), &self.device)?;
        let mut x = self
            .embeddings
            .index_select(&ids.flatten_all()?, 0)?
            .reshape((batch, len, h.hidden))?;
        if h.family == Family::Gemma3 {
            x = (x * (h.hidden as f64).sqrt())?;
        }
        let total = offset + len;
        let groups = h.heads / h.kv_heads.max(1);
        let attention_mask = |window| -> candle_core::Result<Tensor> {
            let m = mask(len, offset, window, &self.device)?.to_dtype(self.dtype)?;
            if self.device.is_cuda() {
                // candle's CUDA kernels index a broadcast operand with 64-bit
                // divisions per element and dimension, which made the mask
                // addition the slowest step of a layer; a contiguous copy, made
                // once per pass, keeps every layer on the contiguous path.
                repeat_leading(&m, batch * h.kv_heads * groups)?
                    .reshape((batch, h.kv_heads, groups, len, total))
            } else {
                Ok(m)
            }
        };
        let fused = self.fused;
        let fused_attention = fused && attention::supported(&self.device, self.dtype, h.head_dim);
        // The fused kernel masks by position itself (the unfused path needs the
        // masks as tensors), and reads q, k and v as the projections lay them out,
        // which saves three transposes a layer; candle's rotary kernel for that
        // layout has no interleaved variant, so GGUF llama keeps heads first.
        // (A KV cache is only ever extended by the path that started it.)
        let positions_first = fused_attention && !h.rope_interleaved;
        let (layout, positions_dim) = if positions_first {
            (attention::Layout::PositionsFirst, 1)
        } else {
            (attention::Layout::HeadsFirst, 2)
        };
        let (causal, windowed) = if fused_attention {
            (None, None)
        } else {
            let windowed = h
                .sliding_window
                .filter(|w| *w < total)
                .map(|w| attention_mask(Some(w)))
                .transpose()?;
            (Some(attention_mask(None)?), windowed)
        };
        let scale = 1.0 / (h.head_dim as f64).sqrt();
        let eps = h.rms_eps as f32;
        // Each layer's feed-forward output is added to the residual stream by
        // the next norm (one kernel on CUDA), the last one by the output norm.
        let mut pending: Option<Tensor> = None;
        for (index, layer) in self.layers.iter().enumerate() {
            let (sum, normed) = elementwise::add_rms_norm(
                &x,
                pending.take().as_ref(),
                &layer.attn_norm,
                eps,
                fused,
            )?;
            x = sum;
            let residual = &x;
            let q = layer
                .wq
                .forward(&normed, fused)?
                .reshape((batch, len, h.heads, h.head_dim))?;
            let k = layer
                .wk
                .forward(&normed, fused)?
                .reshape((batch, len, h.kv_heads, h.head_dim))?;
            let v = layer
                .wv
                .forward(&normed, fused)?
                .reshape((batch, len, h.kv_heads, h.head_dim))?;
            let q = match &layer.q_norm {
                Some(w) => candle_nn::ops::rms_norm(&q.contiguous()?, w, h.rms_eps as f32)?,
                None => q,
            };
            let k = match &layer.k_norm {
                Some(w) => candle_nn::ops::rms_norm(&k.contiguous()?, w, h.rms_eps as f32)?,
                None => k,
            };
            let (q, k, v) = if positions_first {
                (q.contiguous()?, k.contiguous()?, v.contiguous()?)
            } else {
                (
                    q.transpose(1, 2)?.contiguous()?,
                    k.transpose(1, 2)?.contiguous()?,
                    v.transpose(1, 2)?.contiguous()?,
                )
            };
            let (cos, sin) = if layer.local_rope {
                &self.rope_local
            } else {
                &self.rope
            };
            let cos = cos.narrow(0, offset, len)?;
            let sin = sin.narrow(0, offset, len)?;
            let (q, k) = if h.rope_interleaved {
                (
                    candle_nn::rotary_emb::rope_i(&q, &cos, &sin)?,
                    candle_nn::rotary_emb::rope_i(&k, &cos, &sin)?,
                )
            } else if positions_first {
                (
                    candle_nn::rotary_emb::rope_thd(&q, &cos, &sin)?,
                    candle_nn::rotary_emb::rope_thd(&k, &cos, &sin)?,
                )
            } else {
                (
                    candle_nn::rotary_emb::rope(&q, &cos, &sin)?,
                    candle_nn::rotary_emb::rope(&k, &cos, &sin)?,
                )
            };
            let (k, v) = match cache.as_deref_mut() {
                Some(cache) => {
                    let (k, v) = match &cache.layers[index] {
                        Some((past_k, past_v)) => (
                            Tensor::cat(&[past_k, &k], positions_dim)?.contiguous()?,
                            Tensor::cat(&[past_v, &v], positions_dim)?.contiguous()?,
                        ),
                        None => (k, v),
                    };
                    cache.layers[index] = Some((k.clone(), v.clone()));
                    (k, v)
                }
                None => (k, v),
            };
            let attended = match &causal {
                None => attention::attend(
                    &q,
                    &k,
                    &v,
                    layout,
                    offset,
                    layer.sliding_window,
                    scale as f32,
                )?
                .reshape((batch, len, h.heads * h.head_dim))?,
                Some(causal) => {
                    // Grouped-query attention without materializing repeated keys
                    // and values: the query heads sharing a KV head are stacked
                    // along the rows. The scale goes on the queries, a pass over
                    // len × head_dim elements instead of len × total.
                    let total = k.dim(2)?;
                    let q = (q * scale)?.reshape((batch, h.kv_heads, groups * len, h.head_dim))?;
                    let scores = q
                        .matmul(&k.t()?)?
                        .reshape((batch, h.kv_heads, groups, len, total))?;
                    let layer_mask = match (&layer.sliding_window, &windowed) {
                        (Some(_), Some(m)) => m,
                        _ => causal,
                    };
                    let scores = scores.broadcast_add(layer_mask)?;
                    let probs = candle_nn::ops::softmax_last_dim(&scores)?.reshape((
                        batch,
                        h.kv_heads,
                        groups * len,
                        total,
                    ))?;
                    probs
                        .matmul(&v)?
                        .reshape((batch, h.heads, len, h.head_dim))?
                        .transpose(1, 2)?
                        .reshape((batch, len, h.heads * h.head_dim))?
                }
            };
            let mut out = layer.wo.forward(&attended, fused)?;
            if let Some(w) = &layer.post_attn_norm {
                out = candle_nn::ops::rms_norm(&out, w, h.rms_eps as f32)?;
            }
            let (sum, normed) =
                elementwise::add_rms_norm(residual, Some(&out), &layer.ffn_norm, eps, fused)?;
            x = sum;
            let gate = layer.gate.forward(&normed, fused)?;
            let up = layer.up.forward(&normed, fused)?;
            let activated = if h.family == Family::Gemma3 {
                (gate.gelu()? * up)?
            } else {
                elementwise::silu_mul(&gate, &up, fused)?
            };
            let mut ff = layer.down.forward(&activated, fused)?;
            if let Some(w) = &layer.post_ffn_norm {
                ff = candle_nn::ops::rms_norm(&ff, w, h.rms_eps as f32)?;
            }
            pending = Some(ff);
        }
        if let Some(cache) = cache {
            cache.len = total;
        }
        let (_, normed) =
            elementwise::add_rms_norm(&x, pending.as_ref(), &self.output_norm, eps, fused)?;
        Ok(normed)
    }

    /// Logits (f32) over the vocabulary for the given hidden rows `[n, hidden]`.
    pub(crate) fn logits(&self, rows: &Tensor) -> candle_core::Result<Tensor> {
        let mut logits = self.output.forward(rows)?;
        if let Some(cap) = self.hyper.final_softcap {
            logits = ((logits / cap)?.tanh()? * cap)?;
        }
        logits.to_dtype(DType::F32)
    }

    /// Logits for continuation scoring: in the compute dtype (the scoring kernel
    /// reads bf16 directly), f32 when a soft cap has to be applied first.
    pub(crate) fn scoring_logits(&self, rows: &Tensor) -> candle_core::Result<Tensor> {
        if self.hyper.final_softcap.is_some() {
            self.logits(rows)
        } else {
            self.output.forward(rows)
        }
    }

    /// Whether Folio's CUDA kernels are on (see [`Decoder::set_fused_kernels`]).
    pub(crate) fn fused_kernels(&self) -> bool {
        self.fused
    }

    /// Log-softmax over the vocabulary for the given hidden rows `[n, hidden]`.
    pub(crate) fn log_probs(&self, rows: &Tensor) -> candle_core::Result<Tensor> {
        candle_nn::ops::log_softmax(&self.logits(rows)?, D::Minus1)
    }

    /// The device the weights live on.
    pub(crate) fn device(&self) -> &Device {
        &self.device
    }
}

/// Keys and values of every layer for the tokens seen so far (one sequence).
#[derive(Clone)]
pub(crate) struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    len: usize,
}

/// `copies` copies of `t` stacked along a new leading dimension, contiguous,
/// built by doubling (contiguous concatenations only).
fn repeat_leading(t: &Tensor, copies: usize) -> candle_core::Result<Tensor> {
    let mut out = t.unsqueeze(0)?;
    let mut have = 1;
    while have < copies {
        let take = have.min(copies - have);
        out = Tensor::cat(&[&out, &out.narrow(0, 0, take)?], 0)?;
        have += take;
    }
    Ok(out)
}

/// Additive mask `[len, offset + len]` for queries at positions `offset..offset + len`:
/// 0 where query `i` may attend key `j`, −∞ elsewhere.
fn mask(
    len: usize,
    offset: usize,
    window: Option<usize>,
    device: &Device,
) -> candle_core::Result<Tensor> {
    let total = offset + len;
    let values: Vec<f32> = (0..len)
        .flat_map(|row| {
            let i = offset + row;
            (0..total).map(move |j| {
                let visible = j <= i && window.is_none_or(|w| i - j < w);
                if visible {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    Tensor::from_vec(values, (len, total), device)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn repeating_along_a_new_leading_dimension_copies_in_order() {
        let t = Tensor::new(&[[1f32, 2.0], [3.0, 4.0]], &Device::Cpu).expect("tensor");
        for copies in [1, 2, 5, 8] {
            let repeated = repeat_leading(&t, copies).expect("repeats");
            assert_eq!(repeated.dims(), &[copies, 2, 2]);
            assert!(repeated.is_contiguous());
            let expected = t
                .unsqueeze(0)
                .and_then(|u| u.broadcast_as((copies, 2, 2)))
                .expect("view");
            let difference = (repeated - expected)
                .and_then(|d| d.abs())
                .and_then(|d| d.sum_all())
                .and_then(|d| d.to_scalar::<f32>())
                .expect("compares");
            assert_eq!(difference, 0.0);
        }
    }
}
