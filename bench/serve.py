"""Start `python app.py` on a free localhost port for benchmarks and tests; stop it afterwards."""
from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def serve_app(runs_dir: str, timeout: float = 120, env: dict | None = None, log: str | Path | None = None):
    """Yields the app's URL once its first page answers; offline, with its own runs folder. `env` adds or (with
    None values) removes variables; `log` keeps the app's stdout and stderr in that file."""
    port = free_port()
    env_vars = {**os.environ, "HF_HUB_OFFLINE": "1", "GRADIO_SERVER_PORT": str(port), "TPR_RUNS_DIR": str(runs_dir),
                "GRADIO_ANALYTICS_ENABLED": "False"}
    for name, value in (env or {}).items():
        if value is None:
            env_vars.pop(name, None)
        else:
            env_vars[name] = str(value)
    out = open(log, "w") if log else subprocess.DEVNULL  # noqa: SIM115 (closed below)
    app = subprocess.Popen([sys.executable, "app.py"], cwd=ROOT, env=env_vars, stdout=out,
                           stderr=subprocess.STDOUT if log else subprocess.DEVNULL)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.time() + timeout
        while time.time() < deadline:
            try:
                urllib.request.urlopen(url, timeout=2)
                break
            except OSError:
                time.sleep(0.5)
        yield url
    finally:
        app.terminate()
        try:
            app.wait(timeout=30)
        except subprocess.TimeoutExpired:
            app.kill()
        if log:
            out.close()
