"""The device machine's image as the GPU check meets it: which Python distributions it holds, which this project
must carry to it as wheels (for its Python, 3.12), how to fetch them here, and an import blocker that makes this
machine look like that image (every distribution neither in the image nor carried cannot be imported), so that a
check that would fail there for a missing package fails here first.

Source of the image's list: the device tool's notes (KINDS.md, "Python packages already there", read on
2026-11-17; ../shared/gpu-anchors.md says the same of datasets, evaluate and faiss). Versions differ from this
machine's (torch 2.11 and transformers 5.17 there): the blocker checks presence, not versions.
"""

from __future__ import annotations

import importlib.abc
import importlib.metadata
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
WHEEL_DIR = ROOT / ".whl"  # git-ignored; named in the device call's carry
DEVICE_PYTHON = "3.12"
PLATFORMS = ("manylinux_2_28_x86_64", "manylinux_2_27_x86_64", "manylinux_2_17_x86_64", "manylinux2014_x86_64",
             "manylinux1_x86_64")

IMAGE_PACKAGES = frozenset("""
absl-py accelerate aiofiles aiohappyeyeballs aiohttp aiosignal annotated-doc anyio attrs botorch build certifi
charset-normalizer chex click cloudpickle cmake colorama contourpy coverage cuda-bindings cuda-core cuda-pathfinder
cuda-toolkit cupy-cuda13x cycler cython diffrax e3nn einops equinox etils execnet filelock flatbuffers flax fonttools
formulaic frozenlist fsspec gpytorch grpcio h11 h5py hf-xet httpcore httpx huggingface-hub humanize hypothesis idna
imageio iniconfig interface-meta jax jax-cuda13-pjrt jax-cuda13-plugin jaxlib jaxtyping jinja2 joblib kiwisolver
lazy-loader lightning lightning-utilities linear-operator lineax llvmlite lxml markdown markdown-it-py markupsafe
matplotlib mdurl meson ml-dtypes mpi4py mpmath msgpack multidict multipledispatch mypy-extensions nanobind narwhals
networkx ninja numba numba-cuda numpy numpyro nvidia-cublas nvidia-cuda-cupti nvidia-cuda-nvrtc nvidia-cuda-runtime
nvidia-cudnn-cu13 nvidia-cufft nvidia-cufile nvidia-curand nvidia-cusolver nvidia-cusparse nvidia-cusparselt-cu13
nvidia-ml-py nvidia-nccl-cu13 nvidia-nvjitlink nvidia-nvshmem-cu13 nvidia-nvtx onnx onnx-ir onnxruntime onnxscript
opencv-python-headless optax opt-einsum opt-einsum-fx optimistix orbax-checkpoint packaging pandas pathspec patsy
peft pillow pip pluggy portalocker prometheus-client propcache protobuf psutil pyarrow pybind11 py-cpuinfo pygments
pyparsing pyproject-hooks pyre-extensions pytest pytest-benchmark pytest-cov pytest-mock pytest-timeout pytest-xdist
python-dateutil pytorch-lightning pyyaml regex requests rich sacrebleu safetensors scikit-build-core scikit-image
scikit-learn scipy seaborn sentencepiece sentence-transformers setuptools shellingham simplejson six sortedcontainers
statsmodels sympy tabulate tensorboard tensorboard-data-server tensorstore threadpoolctl tifffile tiktoken timm
tokenizers toolz torch torchaudio torchdiffeq torch-geometric torchmetrics torchvision tqdm transformers treescope
triton typer typing-extensions typing-inspect urllib3 uvloop wadler-lindig werkzeug wheel wrapt xarray xxhash yarl
zipp
""".split())

# What the check needs that the image lacks, at this project's pins (requirements.txt), with their own requirements
# that the image lacks too (datasets and evaluate need dill and multiprocess; faiss-cpu only numpy and packaging).
WHEELS = {"datasets": "5.2.0", "evaluate": "0.4.6", "faiss-cpu": "1.15.1", "dill": "0.4.1", "multiprocess": "0.70.19"}
PROJECT = "tune-prompt-retrieve"


def normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def allowed() -> set[str]:
    return {normalise(n) for n in IMAGE_PACKAGES} | {normalise(n) for n in WHEELS} | {PROJECT}


def download(dest: Path = WHEEL_DIR) -> list[Path]:
    """Fetch, here, the wheels the image lacks, for the device's Python (cp312, manylinux x86_64), no dependencies
    (they are listed in WHEELS); returns the wheel files."""
    dest.mkdir(parents=True, exist_ok=True)
    for name, version in WHEELS.items():
        if list(dest.glob(f"{name.replace('-', '_')}-{version}-*.whl")):
            continue
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "--python-version",
               DEVICE_PYTHON, "--implementation", "cp", *[x for p in PLATFORMS for x in ("--platform", p)],
               "-d", str(dest), "-q", f"{name}=={version}"]
        subprocess.run(cmd, check=True)
    return sorted(dest.glob("*.whl"))


def wheel_tags(path: Path) -> tuple[str, str, str]:
    """(python tag, abi tag, platform tag) of a wheel's file name."""
    parts = path.name[:-4].split("-")
    return parts[-3], parts[-2], parts[-1]


def fits_the_device(path: Path) -> bool:
    python, abi, platform = wheel_tags(path)
    pythons = python.split(".")
    minor = int(DEVICE_PYTHON.split(".")[1])
    stable = abi == "abi3" and any(p.startswith("cp3") and int(p[3:]) <= minor for p in pythons)  # cp310-abi3: 3.10+
    python_ok = stable or any(p in ("py3", f"py3{minor}", f"cp3{minor}") for p in pythons)
    abi_ok = abi in ("none", "abi3", f"cp3{minor}")
    platform_ok = platform == "any" or all("x86_64" in p and ("manylinux" in p) for p in platform.split("."))
    return python_ok and abi_ok and platform_ok


class ImageOnly(importlib.abc.MetaPathFinder):
    """Refuse to import a module whose distribution is installed here but is neither in the image nor carried."""

    def __init__(self):
        self.providers = importlib.metadata.packages_distributions()
        self.allowed = allowed()
        self.blocked: set[str] = set()

    def find_spec(self, name, path=None, target=None):
        top = name.split(".")[0]
        dists = {normalise(d) for d in self.providers.get(top, [])}
        if dists and not dists & self.allowed and top not in sys.stdlib_module_names and _from_this_project():
            self.blocked.add(top)
            raise ModuleNotFoundError(f"No module named '{top}' (not in the device's image, not carried)", name=top)
        return None


def _from_this_project() -> bool:
    """Whether the import was asked for by this project's code. A package of the image imports its own needs, which
    the image's versions (not this machine's) decide: only the project's own imports are the check's to cover."""
    frame = sys._getframe(2)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not filename.startswith("<frozen") and "importlib" not in filename:
            return filename.startswith(str(ROOT)) and "site-packages" not in filename
        frame = frame.f_back
    return False


def emulate() -> ImageOnly:
    """From here on, this process imports only what the device's image holds or the check carries."""
    finder = ImageOnly()
    sys.meta_path.insert(0, finder)
    return finder
