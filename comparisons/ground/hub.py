"""Is the Hugging Face Hub reachable? Asked once per process, never at import time."""
from __future__ import annotations

import functools
import os

_TRUE = {"1", "true", "yes", "on"}


def offline_by_env() -> bool:
    return any(
        os.environ.get(v, "").strip().lower() in _TRUE
        for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE")
    )


@functools.lru_cache(maxsize=1)
def hub_available() -> bool:
    """False when HF_HUB_OFFLINE is set or the Hub does not answer within a few seconds."""
    if offline_by_env():
        return False
    try:
        import socket

        socket.setdefaulttimeout(None)
        with socket.create_connection(("huggingface.co", 443), timeout=3):
            return True
    except OSError:
        return False


def offline_reason() -> str:
    return "HF_HUB_OFFLINE is set" if offline_by_env() else "the Hugging Face Hub is unreachable"
