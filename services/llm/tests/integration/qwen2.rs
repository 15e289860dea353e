//! The qwen2 family (q/k/v biases, NeoX rotary pairing, byte-level BPE with the
//! qwen2 pre-tokenizer): no Qwen2 GGUF can be fetched here, so the test writes a
//! tiny random-weight one with candle's GGUF writer and checks the backend on it.

use candle_core::quantized::gguf_file::{self, Value};
use candle_core::quantized::{GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use folio_llm::{CandleModel, CandleOptions, LanguageModel, ScoreInput};

/// GPT-2's byte → printable-char table, which byte-level vocabularies are written in.
fn byte_chars() -> Vec<char> {
    let mut printable: Vec<u32> = (b'!' as u32..=b'~' as u32)
        .chain(0xA1..=0xAC)
        .chain(0xAE..=0xFF)
        .collect();
    let mut extra = 0;
    let mut table = vec!['\0'; 256];
    for byte in 0..256u32 {
        let c = if printable.contains(&byte) {
            byte
        } else {
            extra += 1;
            255 + extra
        };
        table[byte as usize] = char::from_u32(c).unwrap();
    }
    printable.clear();
    table
}

fn tensor(shape: &[usize], seed: u64) -> QTensor {
    // Deterministic small values (a tiny LCG), so the model is the same every run.
    let n: usize = shape.iter().product();
    let mut state = seed
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1442695040888963407);
    let values: Vec<f32> = (0..n)
        .map(|_| {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32 - 0.5) * 0.2
        })
        .collect();
    let t = Tensor::from_vec(values, shape, &Device::Cpu).unwrap();
    QTensor::quantize(&t, GgmlDType::F32).unwrap()
}

fn ones(n: usize) -> QTensor {
    QTensor::quantize(
        &Tensor::ones(n, candle_core::DType::F32, &Device::Cpu).unwrap(),
        GgmlDType::F32,
    )
    .unwrap()
}

fn write_tiny_qwen2(path: &std::path::Path) {
    let (hidden, heads, kv_heads, ffn, layers) = (32usize, 4usize, 2usize, 64usize, 2usize);
    let head_dim = hidden / heads;
    let chars = byte_chars();
    let mut tokens: Vec<String> = chars.iter().map(|c| c.to_string()).collect();
    let space = chars[b' ' as usize];
    tokens.push(format!("{space}t"));
    tokens.push("<|endoftext|>".into());
    tokens.push("<|im_start|>".into());
    let vocab = tokens.len();
    let mut types = vec![Value::I32(1); vocab];
    types[vocab - 1] = Value::I32(3);
    types[vocab - 2] = Value::I32(3);

    let metadata: Vec<(&str, Value)> = vec![
        ("general.architecture", Value::String("qwen2".into())),
        ("qwen2.embedding_length", Value::U32(hidden as u32)),
        ("qwen2.block_count", Value::U32(layers as u32)),
        ("qwen2.feed_forward_length", Value::U32(ffn as u32)),
        ("qwen2.attention.head_count", Value::U32(heads as u32)),
        ("qwen2.attention.head_count_kv", Value::U32(kv_heads as u32)),
        ("qwen2.attention.layer_norm_rms_epsilon", Value::F32(1e-6)),
        ("qwen2.rope.freq_base", Value::F32(1_000_000.0)),
        ("qwen2.context_length", Value::U32(256)),
        ("tokenizer.ggml.model", Value::String("gpt2".into())),
        ("tokenizer.ggml.pre", Value::String("qwen2".into())),
        (
            "tokenizer.ggml.tokens",
            Value::Array(tokens.iter().map(|t| Value::String(t.clone())).collect()),
        ),
        ("tokenizer.ggml.token_type", Value::Array(types)),
        (
            "tokenizer.ggml.merges",
            Value::Array(vec![Value::String(format!("{space} t"))]),
        ),
        ("tokenizer.ggml.eos_token_id", Value::U32(vocab as u32 - 2)),
    ];
    let mut tensors: Vec<(String, QTensor)> = vec![
        ("token_embd.weight".into(), tensor(&[vocab, hidden], 1)),
        ("output_norm.weight".into(), ones(hidden)),
    ];
    for l in 0..layers {
        let p = format!("blk.{l}");
        let s = 100 * (l as u64 + 1);
        tensors.extend([
            (format!("{p}.attn_norm.weight"), ones(hidden)),
            (format!("{p}.ffn_norm.weight"), ones(hidden)),
            (
                format!("{p}.attn_q.weight"),
                tensor(&[hidden, hidden], s + 1),
            ),
            (format!("{p}.attn_q.bias"), tensor(&[hidden], s + 2)),
            (
                format!("{p}.attn_k.weight"),
                tensor(&[kv_heads * head_dim, hidden], s + 3),
            ),
            (
                format!("{p}.attn_k.bias"),
                tensor(&[kv_heads * head_dim], s + 4),
            ),
            (
                format!("{p}.attn_v.weight"),
                tensor(&[kv_heads * head_dim, hidden], s + 5),
            ),
            (
                format!("{p}.attn_v.bias"),
                tensor(&[kv_heads * head_dim], s + 6),
            ),
            (
                format!("{p}.attn_output.weight"),
                tensor(&[hidden, hidden], s + 7),
            ),
            (
                format!("{p}.ffn_gate.weight"),
                tensor(&[ffn, hidden], s + 8),
            ),
            (format!("{p}.ffn_up.weight"), tensor(&[ffn, hidden], s + 9)),
            (
                format!("{p}.ffn_down.weight"),
                tensor(&[hidden, ffn], s + 10),
            ),
        ]);
    }
    let metadata_refs: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (*k, v)).collect();
    let tensor_refs: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &metadata_refs, &tensor_refs).unwrap();
}

#[test]
fn a_random_qwen2_model_scores_consistently() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("tiny-qwen2.gguf");
    write_tiny_qwen2(&path);
    let model = CandleModel::load(&path, CandleOptions::default()).unwrap();
    let description = model.describe();
    assert_eq!(description.architecture, "qwen2");
    assert_eq!(description.context_length, 256);

    let tokenizer = model.tokenizer();
    let text = "<|im_start|>user\nthe total: 1,234 €";
    let ids = tokenizer.encode(text).unwrap();
    assert_eq!(ids[0], tokenizer.token_id("<|im_start|>").unwrap());
    assert_eq!(tokenizer.decode(&ids, true).unwrap(), text);
    // The one merge applies: " t" is a single token.
    assert!(ids.contains(
        &tokenizer
            .token_id(&format!("{}t", byte_chars()[32]))
            .unwrap()
    ));

    let inputs = [
        ScoreInput::new("a short prefix", " then text"),
        ScoreInput::new(
            "a much longer prefix, so that the batch needs padding for the other sequence",
            " and the tail",
        ),
        ScoreInput::new("x", "y"),
    ];
    let batched = model.score(&inputs).unwrap();
    let vocab_ln = (tokenizer.vocab_size() as f32).ln();
    for (input, together) in inputs.iter().zip(&batched) {
        let alone = &model.score(std::slice::from_ref(input)).unwrap()[0];
        assert_eq!(alone.tokens, together.tokens);
        for (a, b) in alone
            .logprobs
            .iter()
            .zip(&together.logprobs)
            .chain(alone.entropies.iter().zip(&together.entropies))
        {
            assert!((a - b).abs() < 1e-3, "{a} vs {b}");
        }
        for (&lp, &h) in together.logprobs.iter().zip(&together.entropies) {
            assert!(lp.is_finite() && lp < 0.0);
            assert!(h > 0.0 && h <= vocab_ln + 1e-3);
        }
    }
}
