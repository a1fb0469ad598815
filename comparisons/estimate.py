"""Will it fit, how long will it take? An estimate of a run's peak memory and time, made before it starts,
from the model's config (no weights loaded), the data's size and the device.

Memory (bytes), fine-tuning:
    process baseline (what this process holds already: libraries, data, cached models)
  + classifier weights              params x 4 (fp32 master weights)
  + reference LM                    params x 4 (the label-word head init and the forgetting probe load the
                                    LM once in the classifier's dtype; kept warm for the next run)
  + gradients + AdamW state         trainable x (4 + 8)
  + activations                     batch x tokens x layers x (ACT_PER_HIDDEN x hidden + ACT_PER_FF x ff
                                    + heads x tokens) x activation bytes  (stored for the backward pass)
Few-shot: LM weights in the scoring dtype + KV cache and last-position logits of one batch.
RAG: the embedder's weights + the vectors (rows x dim x 4) + one batch's activations.

Time (seconds): FLOPs / the device's sustained rate. Training costs 6 x params per token for full
fine-tuning and 4 x params for LoRA (no weight gradients for frozen weights); a forward pass 2 x params.
The rates are measured figures where this project has them (this 2-core CPU: bench/RESULTS.md) and a
stated fraction of the datasheet peak elsewhere; the record keeps the estimate beside what was measured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

# Activations kept for the backward pass, in values per token and layer. Calibrated on this CPU from the
# difference between batch 16 and 64 of the bundled 135M model (bench/RESULTS.md: the first guess, 16 per
# hidden unit, came out at half the measured cost); held-out batch sizes check it.
ACT_PER_HIDDEN = 30  # norms, q/k/v/o inputs and outputs, residuals, rotary copies, MLP input, softmax output
ACT_PER_FF = 3  # the MLP's up/gate projections and the activation's output
LORA_ACT_PER_TARGET = 3  # LoRA's input dropout keeps a copy (and mask) of each adapted projection's input
TRAINING_LIBRARIES_BYTES = 275 * 2**20  # Trainer, peft, evaluate: imported by a process's first run (measured)
CPU_FLOPS = 60e9  # sustained fp32 training FLOP/s of a 135M model on this project's 2-core CPU (bench/RESULTS.md)
# Datasheet dense half-precision peaks (FLOP/s); the Trainer path is assumed to sustain GPU_EFFICIENCY of it.
GPU_PEAKS = {"T4": 65e12, "L4": 121e12, "A10": 125e12, "A100": 312e12, "H100": 790e12, "H200": 790e12}
GPU_EFFICIENCY = 0.25
GPU_DEFAULT_PEAK = 100e12


@dataclass(frozen=True)
class Shape:
    """What the estimate needs from a model's config."""

    params: int
    hidden: int
    layers: int
    heads: int
    ff: int
    vocab: int

    @classmethod
    def from_config(cls, cfg) -> Shape:
        hidden = getattr(cfg, "hidden_size", None) or cfg.n_embd
        layers = getattr(cfg, "num_hidden_layers", None) or cfg.n_layer
        heads = getattr(cfg, "num_attention_heads", None) or cfg.n_head
        ff = getattr(cfg, "intermediate_size", None) or getattr(cfg, "n_inner", None) or 4 * hidden
        vocab = cfg.vocab_size
        kv = getattr(cfg, "num_key_value_heads", None) or heads
        gated = getattr(cfg, "model_type", "") not in ("gpt2",)  # Llama-style MLPs have gate, up and down
        attn = hidden * hidden * 2 + 2 * hidden * (hidden * kv // heads)
        mlp = (3 if gated else 2) * hidden * ff
        positions = 0 if gated else getattr(cfg, "n_positions", 1024) * hidden
        params = vocab * hidden + positions + layers * (attn + mlp + 4 * hidden)
        return cls(int(params), int(hidden), int(layers), int(heads), int(ff), int(vocab))


@dataclass
class Estimate:
    memory_bytes: float
    seconds: float
    device_bytes: float | None  # what the device has (GPU memory, or RAM available on a CPU)
    breakdown: dict
    assumptions: str

    @property
    def fits(self) -> bool:
        return self.device_bytes is None or self.memory_bytes <= self.device_bytes

    def to_dict(self) -> dict:
        return {**asdict(self), "memory_mb": round(self.memory_bytes / 2**20), "fits": self.fits}


def device_rate(gpu_name: str | None) -> tuple[float, str]:
    """Sustained FLOP/s assumed for a device, and where the figure comes from."""
    if not gpu_name:
        return CPU_FLOPS, "CPU rate measured on this project's 2-core machine"
    for key, peak in GPU_PEAKS.items():
        if key in gpu_name.upper():
            return peak * GPU_EFFICIENCY, f"{GPU_EFFICIENCY:.0%} of the {key}'s datasheet peak"
    return GPU_DEFAULT_PEAK * GPU_EFFICIENCY, "an unknown GPU: a generic rate"


def lora_params(shape: Shape, r: int, targets: int = 4) -> int:
    """Adapters on `targets` square-ish projections per layer, plus the classification head."""
    return shape.layers * targets * 2 * r * shape.hidden + 3 * shape.hidden


def finetune_estimate(shape: Shape, *, mode: str, batch_size: int, max_tokens: int, mean_tokens: float,
                      n_train: int, epochs: float, lora_r: int, activation_bytes: int, baseline_bytes: float,
                      gpu_name: str | None = None, device_bytes: float | None = None, lora_targets: int = 4,
                      libraries_loaded: bool = True) -> Estimate:
    trainable = shape.params if mode == "full" else lora_params(shape, lora_r, lora_targets)
    tokens = min(max_tokens, max(1.0, mean_tokens) * 1.6)  # a length-grouped batch pads to its longest row
    per_layer = ACT_PER_HIDDEN * shape.hidden + ACT_PER_FF * shape.ff + shape.heads * tokens
    if mode == "lora":
        per_layer += LORA_ACT_PER_TARGET * lora_targets * shape.hidden
    parts = {
        "baseline": baseline_bytes,
        # On a CPU the process's resident memory also grows by the training stack's first import.
        "libraries": 0 if gpu_name or libraries_loaded else TRAINING_LIBRARIES_BYTES,
        "weights": shape.params * 4,
        "reference_lm": shape.params * 4,
        "gradients_and_optimizer": trainable * 12,
        "activations": batch_size * tokens * shape.layers * per_layer * activation_bytes,
    }
    rate, source = device_rate(gpu_name)
    flops = (6 if mode == "full" else 4) * shape.params * n_train * epochs * mean_tokens
    return Estimate(sum(parts.values()), flops / rate, device_bytes, {k: round(v / 2**20) for k, v in parts.items()},
                    f"time from {source}; activations for batches padded to ~{tokens:.0f} tokens")


def scoring_estimate(shape: Shape, *, n_texts: int, tokens_per_text: float, batch_size: int, weight_bytes: int,
                     baseline_bytes: float, gpu_name: str | None = None, device_bytes: float | None = None,
                     extra_rows: int = 0) -> Estimate:
    """Few-shot prompts (or embeddings): a forward pass per text, batched."""
    kv = 2 * shape.layers * shape.hidden * tokens_per_text * batch_size * weight_bytes
    parts = {"baseline": baseline_bytes, "weights": shape.params * weight_bytes, "kv_cache": kv,
             "logits": batch_size * 4 * shape.vocab * 4, "vectors": extra_rows * shape.hidden * 4}
    rate, source = device_rate(gpu_name)
    flops = 2 * shape.params * n_texts * tokens_per_text
    return Estimate(sum(parts.values()), flops / rate, device_bytes, {k: round(v / 2**20) for k, v in parts.items()},
                    f"time from {source}")
