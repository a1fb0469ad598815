"""Retrieval: sentence embeddings, FAISS indexes, kNN vote, retrieved demonstrations, linear probe."""
from .run import RagConfig, explain, near_duplicates, run

Config = RagConfig
__all__ = ["RagConfig", "Config", "run", "explain", "near_duplicates"]
