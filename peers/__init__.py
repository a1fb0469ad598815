"""The methods a practitioner would try instead of a language model: a TF-IDF + logistic-regression
baseline and SetFit (contrastive fine-tuning of a small sentence encoder with a logistic head).

Importing the package is cheap (configs only); the entry points are `peers.baseline.run` and
`peers.setfit_run.run`. (The package is not named after setfit: that would shadow the library.)"""

from .config import BaselineConfig, SetfitConfig

__all__ = ["BaselineConfig", "SetfitConfig"]
