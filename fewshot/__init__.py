"""Few-shot prompting: demonstrations in the prompt, label scoring, calibration.

Importing the package is cheap (the config only); the entry point is `fewshot.run.run`."""

from .config import FewshotConfig

Config = FewshotConfig
__all__ = ["FewshotConfig", "Config"]
