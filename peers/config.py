"""Settings of the peer methods, declared once (the CLI's flags and the app's widgets come from these
fields). Torch-free."""

from __future__ import annotations

from dataclasses import dataclass

from comparisons.ground.config import SEED_MAX, ConfigBase, setting
from comparisons.ground.errors import UserError
from comparisons.ground.models import EMBEDDER_CHOICES


def ngram_range(text: str, what: str) -> tuple[int, int]:
    """'1-2' -> (1, 2); a clear error for anything else."""
    try:
        low, high = (int(x) for x in text.replace(",", "-").split("-"))
    except ValueError:
        raise UserError(f"{what} must look like 1-2 (lowest-highest n), got {text!r}.") from None
    if not 1 <= low <= high <= 10:
        raise UserError(f"{what} must satisfy 1 <= lowest <= highest <= 10, got {text!r}.")
    return low, high


@dataclass
class BaselineConfig(ConfigBase):
    # Word 1-2-grams plus character 2-5-grams within word boundaries, logistic regression with C=4: 0.712 on
    # all 27,480 -> 3,534 real tweets in 21 s on this CPU, above RAG's linear probe (issue measurement).
    word_ngrams: str = setting("1-2", "word n-gram range, lowest-highest (empty = no word features)",
                               label="Word n-grams", place="main")
    char_ngrams: str = setting("2-5", "character n-gram range within word boundaries (char_wb), lowest-highest "
                               "(empty = no character features)", label="Character n-grams", place="main")
    C: float = setting(4.0, "inverse regularisation strength of the logistic regression", label="C", low=0,
                       high=1e6, low_open=True, place="main")
    min_df: int = setting(1, "ignore n-grams seen in fewer train tweets than this", low=1, high=1000)
    max_features: int = setting(0, "keep the most frequent n-grams per kind; 0 = all", low=0, high=10_000_000)
    seed: int = setting(42, "seed of the data subsets and the solver",
                        low=0, high=SEED_MAX, place="data")

    def check(self):
        if not self.word_ngrams.strip() and not self.char_ngrams.strip():
            raise UserError("give word n-grams, character n-grams, or both (e.g. 1-2 and 2-5).")
        for value, what in ((self.word_ngrams, "word_ngrams"), (self.char_ngrams, "char_ngrams")):
            if value.strip():
                ngram_range(value, what)


@dataclass
class SetfitConfig(ConfigBase):
    embedder: str = setting("auto", "the sentence encoder to fine-tune: 'auto' (MiniLM; bundled offline), a "
                            "sentence-transformers id or folder", label="Embedder", suggestions=tuple(EMBEDDER_CHOICES),
                            place="main")
    max_steps: int = setting(250, "contrastive training steps (pairs of batch_size); 250 reached 0.722 on 1,000 "
                             "real tweets", label="Steps", low=1, high=100_000, place="main")
    batch_size: int = setting(32, "sentence pairs per step", label="Batch size", low=1, high=4096, place="main")
    body_learning_rate: float = setting(2e-5, "learning rate of the encoder's contrastive training",
                                        label="Encoder learning rate", low=0, high=1, low_open=True)
    head_C: float = setting(1.0, "inverse regularisation of the logistic head on the fine-tuned embeddings",
                            label="Head C", low=0, high=1e6, low_open=True)
    num_iterations: int = setting(20, "pairs generated per train tweet (SetFit's sampling)", low=1, high=1000)
    max_length: int = setting(64, "tokens per tweet for the encoder", low=8, high=512)
    seed: int = setting(42, "seed of the data subsets and of SetFit's pair sampling",
                        low=0, high=SEED_MAX, place="data")
