"""Retrieval: sentence embeddings, FAISS indexes, kNN vote, retrieved demonstrations, linear probe.

Importing the package is cheap (the config only); the entry point is `rag.run.run`."""

from .config import RagConfig

Config = RagConfig
__all__ = ["RagConfig", "Config"]
