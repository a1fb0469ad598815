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

Time (seconds): each phase of the run (loading, the Trainer's set-up, training, evaluation passes, the forgetting
probe, embedding, scoring, saving), its FLOPs over the device's measured rate for that kind of work plus its fixed
costs (`Rates`, `Timeline`). Training costs 6 x params per token for full fine-tuning and 4 x params for LoRA (no
weight gradients for frozen weights) plus a cost per optimizer step; a forward pass 2 x params. The rates are
measured on this 2-core CPU and on one H200, and scaled from the H200 to other GPUs; the record keeps the estimate,
its phases, beside what was measured.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

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
    time_breakdown: dict = field(default_factory=dict)  # seconds per phase (Timeline)

    @property
    def fits(self) -> bool:
        return self.device_bytes is None or self.memory_bytes <= self.device_bytes

    def to_dict(self) -> dict:
        return {**asdict(self), "memory_mb": round(self.memory_bytes / 2**20), "fits": self.fits}


def device_rate(gpu_name: str | None) -> tuple[float, str]:
    """Sustained FLOP/s assumed for a device, and where the figure comes from."""
    if not gpu_name:
        return CPU_FLOPS, "CPU rate measured on this project's 2-core machine"
    key = max((k for k in GPU_PEAKS if k in gpu_name.upper()), key=len, default=None)
    if key:
        return GPU_PEAKS[key] * GPU_EFFICIENCY, f"{GPU_EFFICIENCY:.0%} of the {key}'s datasheet peak"
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
        "held": baseline_bytes,
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
    parts = {"held": baseline_bytes, "weights": shape.params * weight_bytes, "kv_cache": kv,
             "logits": batch_size * 4 * shape.vocab * 4, "vectors": extra_rows * shape.hidden * 4}
    rate, source = device_rate(gpu_name)
    flops = 2 * shape.params * n_texts * tokens_per_text
    return Estimate(sum(parts.values()), flops / rate, device_bytes, {k: round(v / 2**20) for k, v in parts.items()},
                    f"time from {source}")


# ---------------------------------------------------------------- time: fixed costs plus rates, per device


@dataclass(frozen=True)
class Rates:
    """How fast one device does each kind of work, each figure measured (this CPU: bench/estimate_time.py; the H200:
    ../shared/gpu-anchors.md) or, for other GPUs, scaled from the H200's by their dense half-precision throughput
    (compute) and memory bandwidth (the optimizer's update), and said so. FLOP/s count real tokens (not padding)."""

    name: str
    scoring: float  # an LM's forward pass over length-sorted batches (few-shot, features, the final evaluation)
    trainer_eval: float  # the Trainer's evaluations during full fine-tuning (unsorted batches, two curve slices)
    trainer_eval_lora: float  # the same with LoRA's adapters unmerged (extra matmuls in every adapted layer)
    perplexity: float  # a perplexity pass over packed windows of text (the forgetting probe, adaptation)
    train_full: float  # full fine-tuning of a classifier (6 x params a token)
    train_lora: float  # LoRA on a classifier (4 x params a token)
    train_lm: float  # continued pretraining of a causal LM on packed blocks (LM head over the whole vocabulary)
    encoder_forward: float  # a small sentence encoder's forward pass (embedding)
    encoder_train: float  # training a small sentence encoder (SetFit's contrastive steps)
    lm_load: float  # seconds to load a 135M-parameter model from local files (scaled by parameters)
    encoder_load: float  # seconds to load a sentence encoder (sentence-transformers' first import included)
    trainer_setup: float  # seconds: the Trainer, accelerate and the optimizer set up
    step_base: float  # seconds per optimizer step beyond its FLOPs (launches, logging, the data loader)
    step_per_param: float  # seconds per trainable parameter per step (AdamW's memory-bound update)
    source: str


# This CPU (2 cores, fp32), 2026-12-02, from the runs of bench/estimate_time.py (phase timings of the 135M LM on
# real tweets, ~26 tokens with the template): the final evaluation, few-shot and the frozen LM's features score at
# ~76 GFLOP/s; the Trainer's curve evaluations 0.17 s a tweet with full fine-tuning, 0.28 s with LoRA's adapters
# unmerged (fitted on the two sizes of each); a perplexity pass ~55-90 GFLOP/s;
# training steps of 16 tweets 1.2 s (LoRA) and 4.5 s (full); adaptation's 8 blocks of 128 tokens 9.6 s a step;
# MiniLM embeds ~105 tweets/s (2,200 texts in 21.0 s); SetFit's contrastive steps (32 pairs) 2.46 s each
# (~79 GFLOP/s); loading the bundled LM 1-2 s, MiniLM with sentence-transformers' import 4-7.5 s.
CPU_RATES = Rates("cpu", scoring=76e9, trainer_eval=38e9, trainer_eval_lora=24e9, perplexity=60e9, train_full=75e9,
                  train_lora=187e9, train_lm=57e9, encoder_forward=1.07e11, encoder_train=7.9e10, lm_load=2.0,
                  encoder_load=6.0, trainer_setup=1.0, step_base=0.0, step_per_param=0.0,
                  source="rates measured on this project's 2-core CPU (bench/estimate_time.py)")
# One H200, 2026-11-30 (../shared/gpu-anchors.md): inference 7,643 tweets/s of GPT-2 124M at ~25 tokens (4.7e13
# FLOP/s); the Trainer at batch 128, bf16: 661 tweets/s full (0.19 s a step), 1,944 LoRA (0.066 s a step), "mostly
# fixed cost"; so a step costs ~0.055 s plus ~1.0e-9 s per trainable parameter, over its compute at ~1.5e14 FLOP/s.
# Loading and the Trainer's set-up on a GPU are not measured yet: assumed (a 135M model from local files, ~3 s).
H200_RATES = Rates("H200", scoring=4.7e13, trainer_eval=4.7e13, trainer_eval_lora=4.7e13, perplexity=4.7e13,
                   train_full=1.5e14, train_lora=1.5e14, train_lm=1.5e14, encoder_forward=4.7e13, encoder_train=1.5e14,
                   lm_load=3.0, encoder_load=4.0, trainer_setup=6.0, step_base=0.055, step_per_param=1.0e-9,
                   source="rates measured on one H200 (../shared/gpu-anchors.md)")
H200_BANDWIDTH = 4.8e12
# Memory bandwidth (bytes/s) from the datasheets, for the optimizer's update; compute scales by GPU_PEAKS.
GPU_BANDWIDTH = {"T4": 0.32e12, "L4": 0.3e12, "A10": 0.6e12, "A100": 2.0e12, "H100": 3.35e12, "H200": 4.8e12}


def rates_for(gpu_name: str | None) -> Rates:
    """The device's rates: this CPU's when no GPU is named; the H200's measured ones, scaled, for a GPU."""
    if not gpu_name:
        return CPU_RATES
    # The longest name that matches: "A10" is also in "A100".
    key = max((k for k in GPU_PEAKS if k in gpu_name.upper()), key=len, default=None)
    compute = (GPU_PEAKS[key] if key else GPU_DEFAULT_PEAK) / GPU_PEAKS["H200"]
    bandwidth = (GPU_BANDWIDTH[key] if key else 1.0e12) / H200_BANDWIDTH
    r = H200_RATES
    if key == "H200":
        return r
    scaled = {f: getattr(r, f) * compute for f in ("scoring", "trainer_eval", "trainer_eval_lora", "perplexity",
                                                    "train_full", "train_lora", "train_lm", "encoder_forward",
                                                    "encoder_train")}
    return Rates(gpu_name, **scaled, lm_load=r.lm_load, encoder_load=r.encoder_load, trainer_setup=r.trainer_setup,
                 step_base=r.step_base, step_per_param=r.step_per_param / bandwidth,
                 source=f"the H200's measured rates scaled to the {key or 'unknown GPU'} by its datasheet throughput "
                        f"({compute:.2f}x) and bandwidth ({bandwidth:.2f}x): an estimate, not a measurement")


class Timeline:
    """The phases of a run's time, in seconds, added up; kept in the estimate as its time breakdown."""

    def __init__(self, rates: Rates):
        self.rates, self.parts = rates, {}

    def add(self, phase: str, seconds: float) -> Timeline:
        self.parts[phase] = self.parts.get(phase, 0.0) + max(0.0, float(seconds))
        return self

    def load_lm(self, params: int, times: int = 1) -> Timeline:
        return self.add("load", times * self.rates.lm_load * max(params / 135e6, 0.05))

    def score(self, phase: str, params: int, tokens: float) -> Timeline:
        return self.add(phase, 2 * params * tokens / self.rates.scoring)

    def trainer_eval(self, params: int, tokens: float, lora: bool = False) -> Timeline:
        rate = self.rates.trainer_eval_lora if lora else self.rates.trainer_eval
        return self.add("evaluate", 2 * params * tokens / rate)

    def perplexity(self, phase: str, params: int, tokens: float) -> Timeline:
        return self.add(phase, 2 * params * tokens / self.rates.perplexity)

    def encode(self, phase: str, params: int, tokens: float) -> Timeline:
        return self.add(phase, 2 * params * tokens / self.rates.encoder_forward)

    def train(self, params: int, trainable: int, tokens: float, steps: float, kind: str) -> Timeline:
        """kind: "full", "lora" (a classifier) or "lm" (continued pretraining, LoRA or full)."""
        rate = {"full": self.rates.train_full, "lora": self.rates.train_lora, "lm": self.rates.train_lm}[kind]
        flops = (6 if kind == "full" else 4) * params * tokens
        return self.add("setup", self.rates.trainer_setup).add(
            "train", flops / rate + steps * (self.rates.step_base + self.rates.step_per_param * trainable))

    @property
    def seconds(self) -> float:
        return sum(self.parts.values())

    def breakdown(self) -> dict:
        return {k: round(v, 1) for k, v in self.parts.items()}
