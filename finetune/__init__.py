"""Fine-tuning: full and LoRA, on transformers.Trainer."""
from .config import FinetuneConfig
from .train import run

Config = FinetuneConfig
__all__ = ["FinetuneConfig", "Config", "run"]
