"""Few-shot prompting: demonstrations in the prompt, label scoring, calibration."""
from .run import FewshotClassifier, FewshotConfig, run, sweep

Config = FewshotConfig
__all__ = ["FewshotClassifier", "FewshotConfig", "Config", "run", "sweep"]
