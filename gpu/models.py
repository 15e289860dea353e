"""Randomly initialised models of real architectures, saved as Hugging Face
directories (config.json + model.safetensors, bf16), for checking and timing
Folio's CUDA path where no real weights can travel (see gpu/README.md).

usage: python models.py OUT_DIR [NAME ...]    (names: qwen2-0.5b llama-3.2-1b smollm2-135m)
"""
import sys
from pathlib import Path

import torch
import transformers
from transformers import AutoModelForCausalLM, LlamaConfig, Qwen2Config

SEED = 20261129
V5 = int(transformers.__version__.split(".")[0]) >= 5


def rope(theta, scaling=None):
    """RoPE settings in the layout of the installed transformers."""
    if V5:
        params = {"rope_type": "default", "rope_theta": theta}
        if scaling:
            params.update(scaling)
        return {"rope_parameters": params}
    out = {"rope_theta": theta}
    if scaling:
        out["rope_scaling"] = scaling
    return out


# Published configurations of the real models (vocabulary included).
CONFIGS = {
    "qwen2-0.5b": lambda: Qwen2Config(
        vocab_size=151936, hidden_size=896, intermediate_size=4864, num_hidden_layers=24,
        num_attention_heads=14, num_key_value_heads=2, max_position_embeddings=32768,
        rms_norm_eps=1e-6, tie_word_embeddings=True, use_sliding_window=False,
        bos_token_id=151643, eos_token_id=151643, **rope(1_000_000.0)),
    "llama-3.2-1b": lambda: LlamaConfig(
        vocab_size=128256, hidden_size=2048, intermediate_size=8192, num_hidden_layers=16,
        num_attention_heads=32, num_key_value_heads=8, head_dim=64,
        max_position_embeddings=131072, rms_norm_eps=1e-5, tie_word_embeddings=True,
        bos_token_id=128000, eos_token_id=128001,
        **rope(500_000.0, {"rope_type": "llama3", "factor": 32.0, "low_freq_factor": 1.0,
                           "high_freq_factor": 4.0, "original_max_position_embeddings": 8192})),
    # SmolLM2-135M's shape: its tokenizer (a vocab-only GGUF) travels, so the
    # end-to-end run can tokenize text for it.
    "smollm2-135m": lambda: LlamaConfig(
        vocab_size=49152, hidden_size=576, intermediate_size=1536, num_hidden_layers=30,
        num_attention_heads=9, num_key_value_heads=3, max_position_embeddings=8192,
        rms_norm_eps=1e-5, tie_word_embeddings=True, bos_token_id=1, eos_token_id=2,
        **rope(100_000.0)),
}


def make(name: str, out: Path) -> Path:
    target = out / name
    if (target / "config.json").exists():
        return target
    torch.manual_seed(SEED)
    config = CONFIGS[name]()
    kwargs = {"dtype": torch.bfloat16} if V5 else {"torch_dtype": torch.bfloat16}
    with torch.device("cuda" if torch.cuda.is_available() else "cpu"):
        model = AutoModelForCausalLM.from_config(config, **kwargs)
    model.save_pretrained(target, safe_serialization=True)
    params = sum(p.numel() for p in model.parameters())
    print(f"{name}: {params / 1e6:.0f} M parameters -> {target}", flush=True)
    return target


if __name__ == "__main__":
    out = Path(sys.argv[1])
    for name in sys.argv[2:] or list(CONFIGS):
        make(name, out)
