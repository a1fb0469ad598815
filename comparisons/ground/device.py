"""The one device and precision policy. No other module asks torch.cuda what the hardware supports.

Precision, decided from the device's capabilities (`precision_policy`, a pure function tested on
simulated hardware):
- CPU: fp32 throughout (CPU bf16 is slow on most CPUs and hurts training).
- CUDA with native bf16 (compute capability >= 8.0: A100, H100/H200, L4, RTX 30xx+): bf16 autocast over
  fp32 master weights, TF32 matmuls; scoring LMs are loaded in bf16.
- Older CUDA GPUs (a T4 is 7.5): fp16 mixed precision (fp32 master weights, the Trainer's `fp16=True`);
  torch.cuda.is_bf16_supported() is True there only through emulation, which is slower than fp16.
Log-probabilities and diagnostics are always computed in fp32.

Devices: a plain `python` start on a machine with several GPUs uses one (`pin_one_gpu`, before CUDA starts),
never DataParallel; under torchrun each rank takes its own GPU (`set_rank_device`) before anything touches CUDA.
"""

from __future__ import annotations

import contextlib
import os
from dataclasses import dataclass
from pathlib import Path

PRECISIONS = ("auto", "bf16", "fp16", "fp32")


@dataclass(frozen=True)
class Capabilities:
    """What the policy needs to know about the device; `detect()` reads it, tests simulate it."""

    cuda: bool
    capability: tuple[int, int] | None = None  # (major, minor)
    name: str = "cpu"
    bf16_native: bool = False
    memory_bytes: int | None = None


@dataclass(frozen=True)
class Precision:
    name: str  # bf16 | fp16 | fp32
    device: str  # cuda | cpu
    tf32: bool
    reason: str

    @property
    def trainer_flags(self) -> dict:
        """TrainingArguments' mixed-precision switches (master weights stay fp32)."""
        return {"bf16": self.name == "bf16", "fp16": self.name == "fp16"}

    @property
    def torch_dtype(self):
        """The dtype for models that only score (few-shot, RAG prompt): no master weights needed."""
        import torch

        return {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}[self.name]


def precision_policy(caps: Capabilities, requested: str = "auto") -> Precision:
    """The precision for this device. `requested` other than auto is honoured where the device can run it
    natively; bf16 on a GPU without native bf16 falls back to fp16, anything on a CPU to fp32."""
    if requested not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}")
    if not caps.cuda:
        return Precision("fp32", "cpu", False, "CPU: fp32 (no fast half-precision units)")
    ampere = caps.capability is not None and caps.capability >= (8, 0)
    native_bf16 = caps.bf16_native and ampere
    if requested == "fp32":
        return Precision("fp32", "cuda", ampere, "fp32 as asked" + ("; TF32 matmuls" if ampere else ""))
    if requested == "fp16" or not native_bf16:
        why = "fp16 as asked" if requested == "fp16" else (
            f"{caps.name} (compute capability {caps.capability}) has no native bf16: fp16 mixed precision")
        return Precision("fp16", "cuda", ampere, why)
    return Precision("bf16", "cuda", True, f"{caps.name}: native bf16 autocast, TF32 matmuls")


def detect() -> Capabilities:
    import torch

    if not torch.cuda.is_available():
        return Capabilities(cuda=False)
    index = torch.cuda.current_device()
    props = torch.cuda.get_device_properties(index)
    return Capabilities(cuda=True, capability=torch.cuda.get_device_capability(index), name=props.name,
                        bf16_native=torch.cuda.is_bf16_supported(including_emulation=False),
                        memory_bytes=int(props.total_memory))


def current_precision(requested: str = "auto") -> Precision:
    return precision_policy(detect(), requested)


def apply_matmul_policy(precision: Precision) -> None:
    """TF32 for fp32 matmuls where the policy says so (Ampere and newer); off elsewhere."""
    import torch

    if precision.device == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = precision.tf32
        torch.backends.cudnn.allow_tf32 = precision.tf32


@contextlib.contextmanager
def run_scope():
    """Around one run: the TF32 switches it sets are restored afterwards (one run's choice never carries into the
    next of the same process: a Space serves many), and its memory is released when it ends (release_memory)."""
    import sys

    torch = sys.modules.get("torch")
    before = (torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32) if torch else None
    try:
        yield
    finally:
        torch = sys.modules.get("torch")
        if torch is not None:
            torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = before or (False, True)
        release_memory()


# ---------------------------------------------------------------- child processes and memory

GPU_LOADER_WORKERS = 2  # collation off the training loop's thread; tweets are tiny, two keep up with a GPU


def in_daemon_process() -> bool:
    """A daemonic process may not start children: a ZeroGPU call runs in one (the `spaces` worker)."""
    import multiprocessing

    return bool(multiprocessing.current_process().daemon)


def gpu_settings() -> bool:
    """Whether the GPU preset's process settings (loader workers, pinned memory) apply: on CUDA, and wherever
    TPR_DEVICE_PRESET=gpu asks for them (the ZeroGPU emulator in the tests, so that what breaks there breaks here)."""
    if os.environ.get("TPR_DEVICE_PRESET", "").strip().lower() == "gpu":
        return True
    return device_name() == "cuda"


def loader_workers(on_cuda: bool | None = None) -> int:
    """DataLoader worker processes: the GPU preset's two, but none inside a daemonic process (a ZeroGPU call),
    where starting one fails ("daemonic processes are not allowed to have children")."""
    if in_daemon_process():
        return 0
    return GPU_LOADER_WORKERS if (gpu_settings() if on_cuda is None else on_cuda or gpu_settings()) else 0


def pool_jobs() -> int | None:
    """Worker processes a library may start for itself (cleanlab's n_jobs): one inside a daemonic process, else
    the library's own choice."""
    return 1 if in_daemon_process() else None


def forked_worker_threads() -> None:
    """In a daemonic worker forked from a process that already ran parallel CPU work (a ZeroGPU call's worker),
    OpenMP's thread pool did not survive the fork and its first parallel region would wait forever: use one thread
    there (the GPU does the heavy work; measured on this CPU, a matmul in the parent then MiniLM in the child)."""
    if in_daemon_process():
        import torch

        torch.set_num_threads(1)


def release_memory() -> None:
    """Between runs and study cells: collect reference cycles (accelerate's mixed-precision wrapper makes one that
    keeps a finished model alive) and hand cached GPU blocks back, so the next run starts from what it needs."""
    import gc
    import sys

    gc.collect()
    torch = sys.modules.get("torch")
    if torch is not None and torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def device_name() -> str:
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def device_info(precision: Precision | None = None, on_cpu: bool = False) -> dict:
    """What a run record keeps about the hardware: GPU name, capability, memory, precision, versions. `on_cpu`: a run
    that computes on the CPU whatever the machine has (scikit-learn), said without importing torch (2 s of a fresh
    process: a TF-IDF run, a CLI call, a Ray worker's first cell)."""
    if on_cpu:
        import importlib.metadata as md

        try:
            version = md.version("torch")
        except md.PackageNotFoundError:
            version = None
        return {"device": "cpu", "torch": version, "cuda": None, "precision": precision.name if precision else "fp32"}
    import torch

    caps = detect()
    out = {"device": "cuda" if caps.cuda else "cpu", "torch": torch.__version__, "cuda": torch.version.cuda,
           "precision": (precision or precision_policy(caps)).name}
    if caps.cuda:
        out.update(gpu=caps.name, capability=list(caps.capability or ()), gpu_memory_gb=round(
            (caps.memory_bytes or 0) / 2**30, 1), gpus_visible=torch.cuda.device_count())
    return out


# ---------------------------------------------------------------- several GPUs


def distributed_env() -> tuple[int, int, int]:
    """(rank, local rank, world size) from torchrun's environment; (0, 0, 1) otherwise."""
    return int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def set_rank_device() -> int | None:
    """Under torchrun, make this rank's GPU the current device before any CUDA work, so that no rank
    starts CUDA (or loads a model) on GPU 0 by accident. Returns the local rank, or None."""
    rank, local_rank, world = distributed_env()
    if world <= 1:
        return None
    import torch

    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    return local_rank


def pin_one_gpu(environ=os.environ, count_gpus=None) -> str | None:
    """A plain start (no torchrun) on a machine with several GPUs: use only the first, instead of the
    Trainer's DataParallel (which would train each step on N copies while the step count and speed assume
    one). Must run before CUDA starts; sets CUDA_VISIBLE_DEVICES and returns a notice saying how to use all."""
    if "WORLD_SIZE" in environ or environ.get("CUDA_VISIBLE_DEVICES", None) is not None:
        visible = environ.get("CUDA_VISIBLE_DEVICES")
        if "WORLD_SIZE" in environ or not visible or "," not in visible:
            return None
        n = len([v for v in visible.split(",") if v.strip()])
    else:
        n = (count_gpus or _count_gpus_without_cuda)()
    if n <= 1:
        return None
    first = environ.get("CUDA_VISIBLE_DEVICES", "0").split(",")[0].strip() or "0"
    environ["CUDA_VISIBLE_DEVICES"] = first
    return (f"{n} GPUs visible: this process uses GPU {first} alone. To train on all of them, start the CLI "
            f"under torchrun: torchrun --nproc_per_node {n} -m comparisons run --method finetune ...")


def _count_gpus_without_cuda() -> int:
    """NVIDIA GPUs present, read from the driver's /proc entries (no CUDA context is created)."""
    root = Path("/proc/driver/nvidia/gpus")
    try:
        return len([p for p in root.iterdir() if p.is_dir()])
    except OSError:
        return 0


def gpu_present() -> bool:
    """Whether this process will see a GPU, without importing torch: the face uses it to choose its default
    settings at start-up. On a ZeroGPU Space the GPU is lent per call; the main process sees none."""
    if os.environ.get("CUDA_VISIBLE_DEVICES", None) == "":
        return False
    return on_zerogpu() or _count_gpus_without_cuda() > 0


def on_zerogpu() -> bool:
    """A Hugging Face ZeroGPU Space (the `spaces` package sets SPACES_ZERO_GPU there)."""
    return os.environ.get("SPACES_ZERO_GPU", "").lower() in ("1", "true")


def on_space() -> bool:
    """Running as a Hugging Face Space (the Space runtime sets SPACE_ID)."""
    return bool(os.environ.get("SPACE_ID", "").strip())


def space_has_oauth() -> bool:
    """The Space has 'Sign in with Hugging Face' (`hf_oauth: true` in its README sets OAUTH_CLIENT_ID)."""
    return on_space() and bool(os.environ.get("OAUTH_CLIENT_ID", "").strip())
