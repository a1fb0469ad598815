"""Settings of a domain-adaptation run (continued causal-LM pretraining on unlabelled text: TAPT on the task's own
train texts, or DAPT on a corpus), declared once as the other methods' are. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass

from comparisons.ground.config import SEED_MAX, ConfigBase, Preset, setting
from comparisons.ground.device import PRECISIONS
from comparisons.ground.models import LM_CHOICES

ADAPT_MODES = ("lora", "full")
DEFAULT_ADAPT_LR = {"lora": 5e-4, "full": 5e-5}


@dataclass
class AdaptConfig(ConfigBase):
    model: str = setting("auto", "the causal LM to adapt: Hub id, local folder, or 'auto' (gpt2; the bundled SmolLM2 "
                         "offline)", label="Model", suggestions=tuple(LM_CHOICES), place="main")
    mode: str = setting("lora", "lora: adapters train, then merge into the saved model; full: every weight trains",
                        label="Mode", choices=ADAPT_MODES, place="main")
    epochs: float = setting(1.0, "passes over the corpus", label="Epochs", low=0, high=100, low_open=True, place="main")
    max_texts: int = setting(2000, "at most this many corpus texts (a seeded sample); 0 = all", label="Corpus texts "
                             "(0 = all)", low=0, high=100_000_000, place="main")
    batch_size: int = setting(8, "packed blocks per optimizer step", label="Batch size", low=1, high=4096,
                              place="main")
    block_size: int = setting(128, "tokens per packed block (texts joined with the end-of-text token)", low=8,
                              high=8192)
    learning_rate: float | None = setting(None, "empty = 5e-4 LoRA, 5e-5 full", label="Learning rate", low=0, high=1,
                                          low_open=True, flags=("--lr",))
    lora_r: int = setting(16, "rank of the LoRA adapters", label="LoRA r", low=1, high=1024)
    lora_alpha: int = setting(32, "LoRA scaling", label="LoRA alpha", low=1, high=4096)
    lora_targets: str = setting("", "comma-separated module names; empty = the architecture's default",
                                label="LoRA target modules")
    perplexity_tokens: int = setting(8192, "tokens of each perplexity measurement (in-domain and general English); "
                                     "0 = skip both", low=0, high=10_000_000)
    corpus: str = setting("", "empty = the train split's texts, labels ignored (TAPT); else a file of unlabelled text "
                          "(.txt: one text per line; or CSV/TSV/JSONL/JSON/Parquet with corpus_column) (DAPT)",
                          place="cli", max_chars=4096)
    corpus_column: str = setting("text", "the text column of a tabular corpus file", place="cli")
    heldout_share: float = setting(0.1, "DAPT: the corpus share held out for the in-domain perplexity", low=0.01,
                                   high=0.5)
    precision: str = setting("auto", "auto: bf16/fp16 on a GPU, fp32 on CPU", label="Precision", choices=PRECISIONS)
    save_model: bool = setting(True, "save the adapted model (safetensors) to start fine-tuning or few-shot from "
                               "(model 'run:<id>')")
    seed: int = setting(42, "seed of the data subsets, the corpus sample and the init",
                        low=0, high=SEED_MAX, place="data")

    @property
    def lr(self) -> float:
        return self.learning_rate or DEFAULT_ADAPT_LR[self.mode]


PRESETS = {
    "app": Preset("app", {"max_texts": 1000, "perplexity_tokens": 4096},
                  "Interactive runs in the app: 1,000 tweets (~25k tokens) adapt in a few minutes on 2 CPU cores, and "
                  "each 4,096-token perplexity pass takes ~15 s there."),
}
