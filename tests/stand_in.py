"""A deterministic stand-in embedder for unit tests: hashed bag of words, L2-normalised.
Texts sharing words are close, so neighbours are predictable without a neural model."""
import hashlib
import re

import numpy as np


class HashEmbedder:
    dim = 64
    calls = 0

    def encode(self, texts, batch_size=32):
        HashEmbedder.calls += len(texts)
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for i, t in enumerate(texts):
            for w in re.findall(r"\w+", t.lower()):
                out[i, int(hashlib.md5(w.encode()).hexdigest(), 16) % self.dim] += 1.0
        out[:, 0] += 1e-3  # no all-zero rows
        return out / np.linalg.norm(out, axis=1, keepdims=True)
