"""Settings of a RAG run, declared once (the CLI's flags and the app's widgets come from these fields).
Torch- and faiss-free."""

from __future__ import annotations

from dataclasses import dataclass

from comparisons.ground.config import SEED_MAX, ConfigBase, Preset, setting
from comparisons.ground.models import EMBEDDER_CHOICES, LM_CHOICES
from fewshot.config import CALIBRATIONS, TEMPLATES

MODES = ("knn", "prompt", "linear")
INDEX_KINDS = ("flat", "hnsw", "ivf")
ONNX_VARIANTS = ("onnx", "onnx-int8")
BACKENDS = ("torch", *ONNX_VARIANTS)


@dataclass
class RagConfig(ConfigBase):
    embedder: str = setting("auto", "sentence-transformers id, local folder, or 'auto' (MiniLM; bundled offline)",
                            label="Embedder", suggestions=tuple(EMBEDDER_CHOICES), place="main")
    mode: str = setting("knn", "knn: a similarity-weighted vote | prompt: the neighbours as demonstrations to an "
                        "LM | linear: logistic regression on the embeddings", label="Mode", choices=MODES,
                        place="main")
    k: int = setting(0, "knn: neighbours that vote (0 = chosen on a validation slice of train); prompt: "
                     "demonstrations (0 = 8)", label="k (0 = choose on a train validation slice)", low=0,
                     high=10_000, place="main")
    index: str = setting("flat", "flat (exact) | hnsw | ivf (approximate; recall@10 reported)", label="Index",
                         choices=INDEX_KINDS, place="main")
    backend: str = setting("torch", "torch (sentence-transformers) | onnx | onnx-int8 (ONNX Runtime; int8 is "
                           "faster on CPU, embeddings shift slightly)", label="Embedding backend", choices=BACKENDS,
                           place="main")
    batch_size: int = setting(128, "texts per embedding batch", low=1, high=100_000)
    seed: int = setting(42, "seed of the data subsets, the k-selection slice and the linear probe",
                        low=0, high=SEED_MAX, place="data")
    model: str = setting("auto", "prompt mode: the causal LM", label="LM (prompt mode)",
                         suggestions=tuple(LM_CHOICES), place="main")
    template: str = setting("auto", "prompt mode: auto | plain | chat", label="Template (prompt mode)",
                            choices=TEMPLATES)
    calibrate: bool = setting(True, "prompt mode: calibrate the LM's label bias", label="Calibrate (prompt mode)")
    calibration: str = setting("batch", "prompt mode: batch | contextual | both", label="Calibration (prompt mode)",
                               choices=CALIBRATIONS)
    near_duplicate_threshold: float = setting(0.95, "cosine similarity at which a train/eval pair counts as a "
                                              "near duplicate", low=0, high=1)


PRESETS = {
    "run_all": Preset("run_all", {"mode": "knn"}, "Run all: the kNN vote, k chosen on train."),
    "gpu": Preset("gpu", {"batch_size": 512}, "On a GPU: 512 texts per embedding batch instead of 128."),
}
