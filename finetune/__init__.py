"""Fine-tuning: full and LoRA, on transformers.Trainer.

Importing the package is cheap (the config only); the entry point is `finetune.train.run`."""

from .config import FinetuneConfig

Config = FinetuneConfig
__all__ = ["FinetuneConfig", "Config"]
