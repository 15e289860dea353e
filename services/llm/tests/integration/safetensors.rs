//! Hugging Face model directories (config.json + safetensors): the default GGUF
//! model, exported to Hugging Face's layout here, must compute what the GGUF
//! computes. This checks the tensor naming, the rotary pairing (llama.cpp
//! permutes q and k for interleaved pairs, Hugging Face does not), tied
//! embeddings and the config reader, on the CPU.

use std::collections::HashMap;
use std::path::Path;

use candle_core::quantized::gguf_file;
use candle_core::{Device, Tensor};
use folio_llm::{
    CandleDecoder, CandleModel, CandleOptions, LanguageModel, LlmWeights, ScoreInput,
    DIRECTORY_TOKENIZER,
};

use crate::{assert_knows, smollm2, smollm2_path};

/// Undoes llama.cpp's q/k permutation: `[heads, 2, half, in]` was stored as
/// `[heads, half, 2, in]`.
fn unpermute(weight: &Tensor, heads: usize) -> Tensor {
    let (out, cols) = weight.dims2().expect("a matrix");
    weight
        .reshape((heads, out / heads / 2, 2, cols))
        .and_then(|w| w.transpose(1, 2))
        .and_then(|w| w.contiguous())
        .and_then(|w| w.reshape((out, cols)))
        .expect("reshapes")
}

fn hf_name(gguf: &str) -> Option<String> {
    let fixed = match gguf {
        "token_embd.weight" => Some("model.embed_tokens.weight"),
        "output_norm.weight" => Some("model.norm.weight"),
        "output.weight" => Some("lm_head.weight"),
        _ => None,
    };
    if let Some(name) = fixed {
        return Some(name.into());
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

/// Writes the GGUF llama model as a Hugging Face directory (f32 weights).
fn export_to_hugging_face(gguf: &Path, dir: &Path) {
    let mut file = std::fs::File::open(gguf).expect("opens");
    let content = gguf_file::Content::read(&mut file).expect("reads");
    let number = |key: &str| {
        let value = &content.metadata[&format!("llama.{key}")];
        value
            .to_u32()
            .map(f64::from)
            .or_else(|_| value.to_f32().map(f64::from))
            .expect("a number")
    };
    let heads = number("attention.head_count") as usize;
    let kv_heads = number("attention.head_count_kv") as usize;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    for name in content.tensor_infos.keys() {
        let Some(hf) = hf_name(name) else { continue };
        let mut weight = content
            .tensor(&mut file, name, &Device::Cpu)
            .and_then(|q| q.dequantize(&Device::Cpu))
            .expect("dequantizes");
        if name.ends_with("attn_q.weight") {
            weight = unpermute(&weight, heads);
        } else if name.ends_with("attn_k.weight") {
            weight = unpermute(&weight, kv_heads);
        }
        tensors.insert(hf, weight);
    }
    assert!(
        !tensors.contains_key("lm_head.weight"),
        "SmolLM2 ties its output to the embeddings: the tied path is what this exercises"
    );
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors")).expect("saves");
    let config = serde_json::json!({
        "model_type": "llama",
        "hidden_size": number("embedding_length") as usize,
        "num_attention_heads": heads,
        "num_key_value_heads": kv_heads,
        "num_hidden_layers": number("block_count") as usize,
        "rms_norm_eps": number("attention.layer_norm_rms_epsilon"),
        "rope_parameters": {"rope_type": "default", "rope_theta": number("rope.freq_base")},
        "max_position_embeddings": number("context_length") as usize,
        "tie_word_embeddings": true,
    });
    std::fs::write(dir.join("config.json"), config.to_string()).expect("writes config");
}

const CASES: [(&str, &str); 3] = [
    (
        "Either party may terminate this Agreement upon ninety (90) days' written",
        " notice to the other party.",
    ),
    ("The capital of France is", " Paris."),
    (
        "Total revenue for fiscal 2022 was $4.2 billion, an increase of",
        " 12% over the prior year.",
    ),
];

fn inputs() -> Vec<ScoreInput> {
    CASES
        .iter()
        .map(|(prefix, continuation)| ScoreInput::new(*prefix, *continuation))
        .collect()
}

#[test]
fn a_hugging_face_export_scores_what_the_gguf_scores() {
    let Some(gguf_model) = smollm2() else { return };
    let dir = tempfile::tempdir().expect("temp dir");
    export_to_hugging_face(&smollm2_path(), dir.path());
    let missing = CandleModel::load(dir.path(), CandleOptions::default())
        .expect_err("a directory without its tokenizer is refused");
    assert!(
        missing.to_string().contains(DIRECTORY_TOKENIZER),
        "{missing}"
    );
    std::os::unix::fs::symlink(smollm2_path(), dir.path().join(DIRECTORY_TOKENIZER))
        .expect("links tokenizer");
    let hf_model =
        CandleModel::load(dir.path(), CandleOptions::default()).expect("directory loads");
    assert_eq!(hf_model.describe().architecture, "llama");
    let expected = gguf_model.score(&inputs()).expect("GGUF scores");
    let got = hf_model.score(&inputs()).expect("directory scores");
    for (e, g) in expected.iter().zip(&got) {
        assert_eq!(e.tokens, g.tokens);
        for (a, b) in e
            .logprobs
            .iter()
            .chain(&e.entropies)
            .zip(g.logprobs.iter().chain(&g.entropies))
        {
            assert!((a - b).abs() < 2e-3, "GGUF {a} vs safetensors {b}");
        }
    }

    // bf16 on the CPU: within bf16 rounding of f32, and still a working model.
    let bf16 = CandleModel::load(
        dir.path(),
        CandleOptions {
            weights: LlmWeights::Bf16,
            ..CandleOptions::default()
        },
    )
    .expect("bf16 loads");
    let got = bf16.score(&inputs()).expect("bf16 scores");
    let worst = expected
        .iter()
        .zip(&got)
        .flat_map(|(e, g)| e.logprobs.iter().zip(&g.logprobs))
        .map(|(a, b)| (a - b).abs())
        .fold(0.0f32, f32::max);
    assert!(worst < 0.5, "bf16 log-probabilities drift by {worst}");
    assert_knows(&bf16, &[("The capital of France is", " Paris", " banana")]);

    // Q8_0 re-quantizes the directory's weights at load (its own code path).
    let q8 = CandleModel::load(
        dir.path(),
        CandleOptions {
            weights: LlmWeights::Q8_0,
            ..CandleOptions::default()
        },
    )
    .expect("q8_0 loads");
    assert_knows(&q8, &[("The capital of France is", " Paris", " banana")]);
}

#[test]
fn batched_greedy_generation_equals_one_prompt_at_a_time() {
    if !smollm2_path().exists() {
        return;
    }
    let decoder = CandleDecoder::load(&smollm2_path(), CandleOptions::default()).expect("loads");
    let prompts = vec![
        vec![1u32, 504, 3458, 282, 4649, 314],
        vec![1u32, 23187, 1028, 327, 5249, 30],
    ];
    let together = decoder.generate_greedy(&prompts, 8).expect("batch");
    for (prompt, batched) in prompts.iter().zip(&together) {
        let alone = decoder
            .generate_greedy(std::slice::from_ref(prompt), 8)
            .expect("single");
        assert_eq!(&alone[0], batched, "prompt {prompt:?}");
    }
    assert!(
        decoder.generate_greedy(&[vec![1, 2], vec![1]], 2).is_err(),
        "unequal prompt lengths are refused"
    );
}

#[test]
fn last_logits_agree_with_the_scores_of_the_next_token() {
    if !smollm2_path().exists() {
        return;
    }
    let decoder = CandleDecoder::load(&smollm2_path(), CandleOptions::default()).expect("loads");
    let short = vec![1u32, 504, 3458, 282];
    let long = vec![1u32, 504, 3458, 282, 4649, 314, 2277];
    let logits = decoder
        .last_logits(&[short.clone(), long.clone()])
        .expect("logits");
    for (ids, row) in [short, long].iter().zip(&logits) {
        let next = 42u32;
        let mut sequence = ids.clone();
        sequence.push(next);
        let scores = decoder
            .score_tokens(&[(sequence, ids.len())])
            .expect("scores");
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let log_sum = row.iter().map(|v| (v - max).exp()).sum::<f32>().ln() + max;
        let expected = row[next as usize] - log_sum;
        assert!(
            (scores[0].logprobs[0] - expected).abs() < 1e-3,
            "{} vs {expected}",
            scores[0].logprobs[0]
        );
    }
}
