"""A bounded runs folder. Records are small and always kept; model folders are what fills a disk (a full
fine-tuning of the 135M model saves ~540 MB). Two caps, from the environment (comparisons.ground.settings):
`TPR_RUNS_MAX_GB` for the whole runs folder and `TPR_OWNER_MAX_GB` for each visitor's runs.

Before a run that saves a model starts, `check_room` refuses it when its model could not fit even after its
owner's own models were evicted. When the model is saved (`save_model_folder`), that owner's oldest models are
evicted first, never another visitor's and never a record: the record says "model evicted". A folder full of
other visitors' models refuses new ones with a message; it never takes theirs. The model is written into a
temporary folder beside the record and renamed into place, so a disk-full error leaves no half-written model,
and the run is recorded as failed with the reason.
"""

from __future__ import annotations

import datetime as _dt
import errno
import os
import shutil
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from comparisons.ground.errors import UserError
from comparisons.ground.settings import settings

GB = 2**30
# A model's files beyond its tensors: configs and the model card, and the tokenizer's files, which take about 60-70
# bytes a token (GPT-2's 50,257 tokens: 2.9 MB; SmolLM2's 49,152: 3.4 MB), counted at 100.
MODEL_SLACK_BYTES = 64 * 2**10
TOKENIZER_BYTES_PER_TOKEN = 100


class DiskFull(UserError):
    """The disk filled up while a model was being written."""


@dataclass(frozen=True)
class Caps:
    total: float | None  # bytes for the whole runs folder; None: unbounded
    per_owner: float | None  # bytes for one visitor's runs (the CLI's own runs have no owner cap)

    @classmethod
    def from_settings(cls) -> Caps:
        s = settings()
        return cls(_bytes(s.runs_max_gb), _bytes(s.owner_max_gb))


def _bytes(gb: float | None) -> float | None:
    return None if gb is None or gb <= 0 else gb * GB


def folder_bytes(path: Path) -> int:
    total = 0
    for root, _, files in os.walk(path):
        for name in files:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                continue  # a file removed while we walk
    return total


def model_bytes(module, trainable_only: bool = False, tokenizer=None) -> int:
    """What a torch module's saved tensors take: every parameter and buffer once (tied weights once), or only
    the trainable ones (a LoRA adapter and its head); plus its tokenizer's files when given."""
    seen, total = set(), 0
    tensors = [p for p in module.parameters() if p.requires_grad or not trainable_only]
    if not trainable_only:
        tensors += list(module.buffers())
    for t in tensors:
        if t.data_ptr() in seen:
            continue
        seen.add(t.data_ptr())
        total += t.numel() * t.element_size()
    return total + (len(tokenizer) * TOKENIZER_BYTES_PER_TOKEN if tokenizer is not None else 0)


def expected_bytes(tensor_bytes: float) -> float:
    return tensor_bytes * 1.02 + MODEL_SLACK_BYTES


@dataclass
class _Model:
    run_id: str
    owner: str
    created_at: str
    folder: Path
    bytes: int


def _inventory(store, owner: str, exclude: str = "") -> tuple[list[_Model], int]:
    """(every finished run's saved model in the folder, oldest first; the bytes of `owner`'s runs), from one
    reading of the records."""
    from comparisons.ground.runs import RunStore

    models, owner_bytes = [], 0
    for r in RunStore(store.root).list():
        if owner and r.owner == owner:
            owner_bytes += folder_bytes(store.root / r.run_id)
        folder = saved_model(r)
        if r.run_id != exclude and r.status != "running" and folder is not None:
            models.append(_Model(r.run_id, r.owner, r.created_at, folder, folder_bytes(folder)))
    return sorted(models, key=lambda m: m.created_at), owner_bytes


def _own(model: _Model, owner: str) -> bool:
    """A model the saving run's owner may evict: their own (the CLI's runs are those without an owner)."""
    return (model.owner or "") == (owner or "")


def room_for(store, owner: str, exclude: str = "", caps: Caps | None = None) -> float | None:
    """The most bytes a new model may take once every model of `owner` is evicted (None: no cap applies). Another
    visitor's model is never counted as room: no cap evicts it."""
    caps = caps or Caps.from_settings()
    if caps.total is None and (caps.per_owner is None or not owner):
        return None
    models, owner_bytes = _inventory(store, owner, exclude)
    mine = sum(m.bytes for m in models if _own(m, owner))
    rooms = []
    if caps.total is not None:
        rooms.append(caps.total - folder_bytes(store.root) + mine)
    if caps.per_owner is not None and owner:
        rooms.append(caps.per_owner - owner_bytes + mine)
    return min(rooms)


def check_room(store, owner: str, nbytes: float | None, what: str = "this run's model") -> None:
    """Refuse, before any work, a model that cannot fit under the caps even after evicting all of its owner's own
    models (another visitor's models are never evicted)."""
    if not nbytes:
        return
    room = room_for(store, owner)
    if room is not None and nbytes > room:
        raise UserError(f"{what} needs about {nbytes / GB:.2f} GB on disk, more than the runs folder's cap leaves "
                        f"({max(room, 0) / GB:.2f} GB even after evicting all of your own older models; other "
                        "visitors' models are never evicted for yours). Delete some of your runs, use LoRA, don't save "
                        "the model (untick 'save model'), or ask the host to raise TPR_RUNS_MAX_GB / TPR_OWNER_MAX_GB.")


def make_room(store, owner: str, nbytes: float, keep: str = "", caps: Caps | None = None) -> list[str]:
    """Evict `owner`'s own oldest models until `nbytes` more fit under both caps; never anyone else's. Returns the
    evicted run ids (check_room has refused what cannot fit this way)."""
    caps = caps or Caps.from_settings()
    evicted: list[str] = []
    if caps.total is None and (caps.per_owner is None or not owner):
        return evicted
    models, owner_used = _inventory(store, owner, keep)
    folder_used = folder_bytes(store.root) if caps.total is not None else 0
    for m in [m for m in models if _own(m, owner)]:
        over_owner = caps.per_owner is not None and owner and owner_used + nbytes > caps.per_owner
        over_folder = caps.total is not None and folder_used + nbytes > caps.total
        if not (over_owner or over_folder):
            break
        _evict(store, m, "its owner's cap" if over_owner else "the runs folder's cap")
        owner_used -= m.bytes
        folder_used -= m.bytes
        evicted.append(m.run_id)
    return evicted


def _evict(store, model: _Model, why: str) -> None:
    from comparisons.ground.runs import RunStore

    owner_store = RunStore(store.root)
    record = owner_store.load(model.run_id)
    shutil.rmtree(model.folder, ignore_errors=True)
    record.artifacts.pop("model_dir", None)
    when = _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
    record.artifacts["model_evicted"] = {"at": when, "bytes": model.bytes, "reason": why}
    record.notices.append(f"model evicted {when[:16].replace('T', ' ')} UTC to keep the runs folder under {why}; "
                          "the record and its figures are kept")
    owner_store.save(record)


def saved_model(record) -> Path | None:
    """The run's model folder while it is on disk (None: never saved, or evicted)."""
    folder = record.artifacts.get("model_dir")
    return Path(folder) if folder and Path(folder).is_dir() else None


def require_saved_model(record) -> Path:
    """The run's model folder, or a UserError that says why it has none."""
    folder = saved_model(record)
    if folder is None:
        why = "was evicted to keep the disk under its cap (the record and its figures are kept)" if \
            record.artifacts.get("model_evicted") else "saved no model"
        raise UserError(f"run '{record.run_id}' has no model: it {why}.")
    return folder


def save_model_folder(store, record, write: Callable[[Path], None], tensor_bytes: float) -> Path:
    """Write a run's model folder with room made first and a model card inside, atomically: `write(folder)` fills a
    temporary folder beside the record, which is renamed to `model/` once complete. A full disk removes the partial
    folder and raises DiskFull (the run is then recorded as failed, with the reason)."""
    from comparisons.ground.modelcard import write_card

    need = expected_bytes(tensor_bytes)
    check_room(store, record.owner, need)
    make_room(store, record.owner, need, keep=record.run_id)
    run_dir = store.run_dir(record.run_id)
    tmp, final = run_dir / f".model-{uuid.uuid4().hex[:8]}.tmp", run_dir / "model"
    try:
        write(tmp)
        write_card(record, tmp)
        actual = folder_bytes(tmp)
        if actual > need:  # larger than foreseen: make room for the difference now that it is on disk
            make_room(store, record.owner, 0, keep=record.run_id)
        if final.exists():
            shutil.rmtree(final)
        os.replace(tmp, final)
    except OSError as e:
        shutil.rmtree(tmp, ignore_errors=True)
        if e.errno in (errno.ENOSPC, errno.EDQUOT):
            raise DiskFull(f"the disk filled up while saving the model ({e.strerror or e}); the run's figures are "
                           "kept, its model is not. Delete old runs, or lower TPR_RUNS_MAX_GB so that old models are "
                           "evicted in time.") from None
        raise
    record.artifacts["model_dir"] = str(final)
    record.artifacts["model_bytes"] = folder_bytes(final)
    return final
