"""A ZeroGPU worker on this CPU: what `spaces.GPU` does on a ZeroGPU Space, as far as a test can reproduce it.

- Each call runs in a daemonic process forked from the app's (so it may start no children of its own: the
  DataLoader workers and process pools that fail there fail here).
- Its arguments and its result (each item a generator yields) are pickled across the process boundary.
- The parent never touches CUDA (checked after each call where torch is loaded).
- The call asks for a duration (seconds, or a function of the arguments, as the app passes); the worker is killed
  when it runs out, and the caller sees an error, as ZeroGPU's "GPU task aborted".
- The environment says ZeroGPU (SPACES_ZERO_GPU) and the GPU preset's process settings (TPR_DEVICE_PRESET=gpu:
  loader workers, pinned memory); precision stays fp32, as this CPU has no bf16 units worth using.

`emulated()` installs it (a stand-in `spaces` module, then ui.workers reloaded so that its functions are decorated
by it) and gives back the calls it served.
"""
from __future__ import annotations

import contextlib
import importlib
import inspect
import multiprocessing
import os
import pickle
import queue
import sys
import time
import types
from dataclasses import dataclass, field


class GPUTaskAborted(RuntimeError):
    """The worker outlived the duration its call asked for, and was killed (ZeroGPU's 'GPU task aborted')."""


@dataclass
class Call:
    name: str
    requested: float
    seconds: float = 0.0
    outcome: str = "running"


@dataclass
class Emulator:
    calls: list = field(default_factory=list)
    scale: float = 1.0  # requested durations are multiplied by this (a CPU is slower than the GPU they are sized for)

    def GPU(self, task=None, *, duration=None, size=None):  # noqa: N802 (spaces' own name)
        def wrap(fn):
            return self._wrap(fn, duration)
        return wrap(task) if callable(task) else wrap

    def _wrap(self, fn, duration):
        emulator = self

        def requested(args, kwargs) -> float:
            seconds = duration(*args, **kwargs) if callable(duration) else (duration or 60)
            return float(seconds)

        if inspect.isgeneratorfunction(fn):
            def generator(*args, **kwargs):
                call = Call(fn.__name__, requested(args, kwargs))
                emulator.calls.append(call)
                yield from emulator._run(fn, args, kwargs, call, streaming=True)
            generator.__name__ = fn.__name__
            return generator

        def regular(*args, **kwargs):
            call = Call(fn.__name__, requested(args, kwargs))
            emulator.calls.append(call)
            for kind, value in emulator._run(fn, args, kwargs, call, streaming=False):
                return value
        regular.__name__ = fn.__name__
        return regular

    def _run(self, fn, args, kwargs, call: Call, streaming: bool):
        payload = pickle.dumps((args, kwargs))  # what crosses into the worker must pickle
        context = multiprocessing.get_context("fork")
        channel = context.Queue()
        worker = context.Process(target=_serve, args=(fn, payload, channel, streaming), daemon=True,
                                 name=f"zerogpu-{fn.__name__}")
        t0 = time.monotonic()
        deadline = t0 + call.requested * self.scale
        worker.start()
        try:
            while True:
                try:
                    kind, data = channel.get(timeout=0.2)
                except queue.Empty:
                    if time.monotonic() > deadline:
                        call.outcome = "aborted"
                        raise GPUTaskAborted(f"GPU task aborted: {fn.__name__} ran past the {call.requested:.0f} s "
                                             "it asked for") from None
                    if not worker.is_alive() and channel.empty():
                        call.outcome = f"died ({worker.exitcode})"
                        raise RuntimeError(f"the GPU worker of {fn.__name__} died (exit code {worker.exitcode})") \
                            from None
                    continue
                value = pickle.loads(data)
                if kind == "item":
                    yield ("item", value) if not streaming else value
                elif kind == "return":
                    call.outcome = "returned"
                    if not streaming:
                        yield ("return", value)
                    return
                else:  # "raise"
                    call.outcome = f"raised {type(value).__name__}"
                    raise value
        finally:
            call.seconds = time.monotonic() - t0
            if worker.is_alive():
                worker.kill()
            worker.join(5)
            _parent_never_touched_cuda()


def _serve(fn, payload: bytes, channel, streaming: bool) -> None:
    """The worker: run the function, sending back (pickled) each yielded item, then its return or its error."""
    try:
        args, kwargs = pickle.loads(payload)
        if streaming:
            for item in fn(*args, **kwargs):
                channel.put(("item", pickle.dumps(item)))
            channel.put(("return", pickle.dumps(None)))
        else:
            channel.put(("return", pickle.dumps(fn(*args, **kwargs))))
    except BaseException as e:  # noqa: BLE001 (everything goes back to the caller, as spaces does)
        try:
            channel.put(("raise", pickle.dumps(e)))
        except Exception:  # an exception that does not pickle: its text does
            channel.put(("raise", pickle.dumps(RuntimeError(f"{type(e).__name__}: {e}"))))
    finally:
        channel.close()
        channel.join_thread()


def _parent_never_touched_cuda() -> None:
    torch = sys.modules.get("torch")
    if torch is not None and hasattr(torch, "cuda"):
        assert not torch.cuda.is_initialized(), "the main process initialised CUDA: ZeroGPU forbids it"


@contextlib.contextmanager
def emulated(scale: float = 1.0):
    """ZeroGPU on: a stand-in `spaces`, the environment a ZeroGPU Space has, and ui.workers decorated anew."""
    emulator = Emulator(scale=scale)
    module = types.ModuleType("spaces")
    module.GPU = emulator.GPU
    saved_module = sys.modules.get("spaces")
    saved_env = {k: os.environ.get(k) for k in ("SPACES_ZERO_GPU", "TPR_DEVICE_PRESET")}
    sys.modules["spaces"] = module
    os.environ.update(SPACES_ZERO_GPU="true", TPR_DEVICE_PRESET="gpu")
    import ui.workers

    importlib.reload(ui.workers)
    try:
        yield emulator
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        if saved_module is None:
            sys.modules.pop("spaces", None)
        else:
            sys.modules["spaces"] = saved_module
        importlib.reload(ui.workers)
