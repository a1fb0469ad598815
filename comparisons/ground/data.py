"""Tweet datasets: load from the Hub, a local file or folder, or the bundled sample; validate;
normalise labels; seeded stratified subsets; fingerprints; the train/test leakage check.

Everything downstream sees a `TweetData`: two splits of (text, integer label) and the label names.
"""
from __future__ import annotations

import hashlib
import io
import json
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from comparisons.ground.errors import UserError, check
from comparisons.ground.hub import hub_available, offline_reason

DEFAULT_HUB_DATASET = "mteb/tweet_sentiment_extraction"
SAMPLE_PATH = Path(__file__).parent.parent / "sample_tweets.csv"
FORMATS = {".csv": "csv", ".tsv": "tsv", ".jsonl": "jsonl", ".json": "json", ".parquet": "parquet"}
TEXT_COLUMNS = ("text", "sentence", "tweet", "content")
LABEL_COLUMNS = ("label", "sentiment", "label_text")
DEFAULT_MAX_FILE_MB = 200.0
# Known orders so that "negative < neutral < positive" keeps its meaning on screen and in ids.
KNOWN_LABEL_ORDERS = (
    ("negative", "neutral", "positive"),
    ("negative", "positive"),
    ("very negative", "negative", "neutral", "positive", "very positive"),
)


@dataclass(frozen=True)
class Split:
    texts: tuple[str, ...]
    labels: tuple[int, ...]

    def __len__(self) -> int:
        return len(self.texts)

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for text, label in zip(self.texts, self.labels):
            h.update(f"{label}\t{text}\n".encode("utf-8", "surrogatepass"))
        return h.hexdigest()[:16]

    def label_counts(self, n_labels: int) -> list[int]:
        return np.bincount(np.asarray(self.labels, dtype=int), minlength=n_labels).tolist()


@dataclass
class TweetData:
    train: Split
    test: Split
    label_names: list[str]
    source: str
    notices: list[str] = field(default_factory=list)
    dropped_empty: dict[str, int] = field(default_factory=dict)
    cleaning: dict = field(default_factory=dict)  # train rows dropped by the quality report, and why

    @property
    def fingerprint(self) -> str:
        """Identifies the evaluation rows: runs with equal fingerprints are comparable."""
        return self.test.fingerprint()

    @property
    def train_fingerprint(self) -> str:
        return self.train.fingerprint()

    @property
    def n_labels(self) -> int:
        return len(self.label_names)

    def majority_rate(self) -> float:
        counts = self.test.label_counts(self.n_labels)
        return max(counts) / max(1, len(self.test))

    def describe(self) -> dict:
        return {
            "source": self.source,
            "fingerprint": self.fingerprint,
            "train_fingerprint": self.train_fingerprint,
            "n_train": len(self.train),
            "n_eval": len(self.test),
            "label_names": list(self.label_names),
            **({"cleaning": self.cleaning} if self.cleaning else {}),
        }


# ---------------------------------------------------------------- reading files

def _decode(raw: bytes, name: str) -> str:
    if b"\x00" in raw[:8192] and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UserError(f"{name} looks like a binary file, not text. Give a CSV, TSV, JSONL, JSON or Parquet file.")
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = raw[: e.start].count(b"\n") + 1
        raise UserError(
            f"{name}: bytes that are not UTF-8 at line {line} (byte {e.start}). "
            "Save the file as UTF-8 and try again."
        ) from None


def read_table(path: str | Path, *, max_file_mb: float = DEFAULT_MAX_FILE_MB) -> pd.DataFrame:
    """Read one CSV/TSV/JSONL/JSON/Parquet file into a DataFrame of strings and numbers."""
    path = Path(path)
    name = path.name
    check(path.exists(), f"File not found: {path}. Check the path, or upload the file.")
    check(path.is_file(), f"{path} is a folder; give a file, or a folder holding train and test files.")
    fmt = FORMATS.get(path.suffix.lower())
    check(fmt is not None, f"{name}: unknown format '{path.suffix}'. Use one of: {', '.join(FORMATS)}.")
    size_mb = path.stat().st_size / 2**20
    check(
        size_mb <= max_file_mb,
        f"{name} is {size_mb:.1f} MB, over the {max_file_mb:g} MB limit. Use a smaller file or a subset.",
    )
    check(path.stat().st_size > 0, f"{name} is empty.")
    raw = path.read_bytes()
    if fmt == "parquet":
        try:
            return pd.read_parquet(io.BytesIO(raw))
        except Exception as e:  # pyarrow raises many types for a bad file
            raise UserError(f"{name}: not a readable Parquet file ({type(e).__name__}: {e}).") from None
    text = _decode(raw, name)
    check(text.strip() != "", f"{name} holds no data.")
    if fmt in ("csv", "tsv"):
        try:
            return pd.read_csv(
                io.StringIO(text),
                sep="," if fmt == "csv" else "\t",
                dtype=str,
                keep_default_na=False,
                skip_blank_lines=True,
            )
        except pd.errors.ParserError as e:
            detail = str(e).strip().replace("Error tokenizing data. C error: ", "")
            raise UserError(
                f"{name}: malformed {fmt.upper()} ({detail}). Check quoting and the number of fields per row."
            ) from None
        except pd.errors.EmptyDataError:
            raise UserError(f"{name} holds no data.") from None
    if fmt == "jsonl":
        rows = []
        for i, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                row = json.loads(line)
            except json.JSONDecodeError as e:
                raise UserError(
                    f"{name}: line {i} is not valid JSON ({e.msg}). Each line must be one JSON object."
                ) from None
            check(isinstance(row, dict), f"{name}: line {i} is not a JSON object.")
            rows.append(row)
        return pd.DataFrame(rows)
    try:
        obj = json.loads(text)
    except json.JSONDecodeError as e:
        raise UserError(f"{name}: not valid JSON at line {e.lineno} ({e.msg}).") from None
    if isinstance(obj, dict) and "data" in obj and isinstance(obj["data"], list):
        obj = obj["data"]
    if isinstance(obj, list):
        check(all(isinstance(r, dict) for r in obj), f"{name}: a JSON list must hold objects, one per row.")
        return pd.DataFrame(obj)
    if isinstance(obj, dict) and all(isinstance(v, list) for v in obj.values()):
        try:
            return pd.DataFrame(obj)
        except ValueError as e:
            raise UserError(f"{name}: columns of different lengths ({e}).") from None
    raise UserError(f"{name}: JSON must be a list of rows or an object of equal-length columns.")


# ---------------------------------------------------------------- columns and labels


def _find_column(df: pd.DataFrame, explicit: str | None, candidates: tuple[str, ...], what: str, name: str) -> str:
    cols = [str(c) for c in df.columns]
    if explicit:
        check(explicit in cols, f"{name}: no column '{explicit}'. Columns found: {', '.join(cols) or 'none'}.")
        return explicit
    lower = {c.lower().strip(): c for c in cols}
    found = [lower[c] for c in candidates if c in lower]
    if what == "label" and len(found) == 2 and {f.lower() for f in found} == {"label", "label_text"}:
        return lower["label"]  # the common pairing: integer ids plus their names
    check(
        found,
        f"{name}: no {what} column. Expected one of {', '.join(candidates)}; columns found: "
        f"{', '.join(cols) or 'none'}. Name it with --{what}-column (or in the form).",
    )
    check(
        len(found) == 1,
        f"{name}: several candidate {what} columns ({', '.join(found)}); "
        f"say which one with --{what}-column (or in the form).",
    )
    return found[0]


def _as_text(values: pd.Series, column: str, name: str) -> list[str]:
    out = []
    for i, v in enumerate(values.tolist()):
        if v is None or (isinstance(v, float) and math.isnan(v)):
            out.append("")
        elif isinstance(v, str):
            out.append(v)
        else:
            raise UserError(
                f"{name}: text column '{column}' holds {type(v).__name__} values (row {i + 1}: {v!r}), not text. "
                "Choose the column that holds the tweets."
            )
    return out


def _label_key(v) -> int | str:
    """One raw label -> an int id or a normalised name. NaN and fractional floats are errors."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        raise ValueError("missing")
    if isinstance(v, (bool, np.bool_)):
        return int(v)
    if isinstance(v, (int, np.integer)):
        return int(v)
    if isinstance(v, (float, np.floating)):
        if float(v).is_integer():
            return int(v)
        raise ValueError(f"the fractional number {v}")
    s = str(v).strip()
    if s == "" or s.lower() in ("nan", "none", "null"):
        raise ValueError("missing")
    if re.fullmatch(r"[+-]?\d+", s):
        return int(s)
    if re.fullmatch(r"[+-]?\d+\.0*", s):
        return int(float(s))
    if re.fullmatch(r"[+-]?\d*\.\d+", s):
        raise ValueError(f"the fractional number {s}")
    return " ".join(s.lower().split())


def _order_names(names: set[str]) -> list[str]:
    for order in KNOWN_LABEL_ORDERS:
        if names <= set(order) and len(names) >= 2:
            return [n for n in order if n in names]
    return sorted(names)


@dataclass
class _Frame:
    texts: list[str]
    keys: list[int | str]
    id_names: dict[int, str]
    columns: str = ""  # which columns were detected, said when the user did not name them


def _frame(df: pd.DataFrame, text_column: str | None, label_column: str | None, name: str) -> _Frame:
    check(len(df) > 0, f"{name} has no rows.")
    tcol = _find_column(df, text_column, TEXT_COLUMNS, "text", name)
    lcol = _find_column(df, label_column, LABEL_COLUMNS, "label", name)
    check(tcol != lcol, f"{name}: the text and label columns are both '{tcol}'.")
    others = [str(c) for c in df.columns if str(c) not in (tcol, lcol)]
    picked = [f"text from '{tcol}'" if not text_column else "", f"label from '{lcol}'" if not label_column else ""]
    picked = [x for x in picked if x]
    columns = ""
    if picked:
        columns = (f"Columns detected: {' and '.join(picked)}" + (f" (also there: {', '.join(others[:8])})" if others
                                                                   else "")
                   + ". To use others, name the text and label columns.")
    texts = _as_text(df[tcol], tcol, name)
    check(any(t.strip() for t in texts), f"{name} has no rows with text (column '{tcol}' is empty everywhere).")
    keys = []
    for i, v in enumerate(df[lcol].tolist()):
        try:
            keys.append(_label_key(v))
        except ValueError as e:
            raise UserError(
                f"{name}: label column '{lcol}' has {e} at row {i + 1}. Every row needs a label "
                "(an integer id or a name)."
            ) from None
    kinds = {type(k) for k in keys}
    check(len(kinds) <= 1, f"{name}: label column '{lcol}' mixes numbers and names; use one or the other.")
    id_names: dict[int, str] = {}
    lower = {c.lower(): c for c in map(str, df.columns)}
    if kinds == {int} and "label_text" in lower and lower["label_text"] != lcol:
        for k, n in zip(keys, df[lower["label_text"]].tolist()):
            if isinstance(n, str) and n.strip():
                id_names.setdefault(k, n.strip())
    return _Frame(texts, keys, id_names, columns)


def _build(train: _Frame, test: _Frame, source: str, names_hint: list[str] | None = None) -> TweetData:
    train_keys, test_keys = set(train.keys), set(test.keys)
    unknown = sorted(test_keys - train_keys, key=str)
    check(
        not unknown,
        f"test labels absent from train: {', '.join(map(str, unknown))}. "
        "A classifier cannot learn a label it never sees in train.",
    )
    check(
        len(train_keys) >= 2,
        f"only one class in train ({next(iter(train_keys), '?')}). Classification needs at least two labels.",
    )
    if all(isinstance(k, int) for k in train_keys):
        ids = sorted(train_keys)
        hint = names_hint if names_hint and len(names_hint) > max(ids) and min(ids) >= 0 else None
        names = [train.id_names.get(i) or (hint[i] if hint else str(i)) for i in ids]
        index = {k: j for j, k in enumerate(ids)}
    else:
        names = _order_names(set(train_keys))
        index = {k: j for j, k in enumerate(names)}

    dropped = {}

    def split(frame: _Frame, which: str) -> Split:
        keep = [(t, index[k]) for t, k in zip(frame.texts, frame.keys) if t.strip()]
        dropped[which] = len(frame.texts) - len(keep)
        check(keep, f"the {which} split has no rows with text.")
        return Split(tuple(t for t, _ in keep), tuple(l for _, l in keep))

    data = TweetData(split(train, "train"), split(test, "test"), names, source, dropped_empty=dropped)
    if train.columns:
        data.notices.append(train.columns)
    check(len(set(data.train.labels)) >= 2, "only one class in train after dropping empty texts.")
    if sum(dropped.values()):
        data.notices.append(f"Dropped rows with empty text: {dropped['train']} train, {dropped['test']} test.")
    return data


def _stratified_split(frame: _Frame, test_size: float, seed: int) -> tuple[_Frame, _Frame]:
    check(0 < test_size < 1, f"test share must be between 0 and 1, got {test_size}.")
    rng = np.random.RandomState(seed)
    keys = np.array([str(k) for k in frame.keys])
    test_idx = []
    for k in sorted(set(keys)):
        idx = np.flatnonzero(keys == k)
        rng.shuffle(idx)
        n = int(round(len(idx) * test_size)) if len(idx) > 1 else 0
        test_idx.extend(idx[:n].tolist())
    test_set = set(test_idx)
    check(test_set, "too few rows to hold out a test split; give more rows or a larger test share.")

    def pick(ix):
        return _Frame([frame.texts[i] for i in ix], [frame.keys[i] for i in ix], frame.id_names, frame.columns)

    return pick([i for i in range(len(keys)) if i not in test_set]), pick(sorted(test_set))


SPLIT_NAMES = {"train": "train", "test": "test", "validation": "test", "valid": "test", "dev": "test"}
_SHARD = re.compile(r"^(train|test|validation|valid|dev)(?:[-_.].*)?$", re.IGNORECASE)


def _snapshot_files(folder: Path) -> dict[str, list[Path]]:
    """A downloaded Hub snapshot's data files by split, from their names (`data/train-00000-of-00001.parquet`,
    `train.jsonl`, `plain_text/test-*.parquet`); the test split is 'test', else 'validation'/'valid'/'dev'."""
    found: dict[str, dict[str, list[Path]]] = {}
    for p in sorted(folder.rglob("*")):
        if not p.is_file() or p.suffix.lower() not in FORMATS or any(x.startswith(".") for x in p.parts[-4:]):
            continue
        m = _SHARD.match(p.name[: -len(p.suffix)])
        if m:
            found.setdefault(m.group(1).lower(), {}).setdefault(str(p.parent), []).append(p)
    out = {}
    for split in ("train", "test", "validation", "valid", "dev"):
        if split in found and SPLIT_NAMES[split] not in out:
            out[SPLIT_NAMES[split]] = next(iter(found[split].values()))  # one folder's shards (one config)
    return out


def _read_shards(paths: list[Path], max_file_mb: float) -> pd.DataFrame:
    frames = [read_table(p, max_file_mb=max_file_mb) for p in paths]
    return frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)


def unpack_zip(path: Path, max_mb: float = DEFAULT_MAX_FILE_MB) -> Path:
    """A zip of a dataset folder, unpacked once (by content hash) into a temporary folder; members that would
    land outside it, or more than `max_mb` unpacked, are refused. Returns the folder holding the data."""
    import tempfile
    import zipfile

    check(zipfile.is_zipfile(path), f"{path.name} is not a readable zip file.")
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:16]
    out = Path(tempfile.gettempdir()) / "tpr-unzipped" / digest
    if not (out / ".done").exists():
        with zipfile.ZipFile(path) as z:
            total = sum(i.file_size for i in z.infolist())
            check(total <= max_mb * 2**20, f"{path.name} unpacks to {total / 2**20:.0f} MB, over the {max_mb:g} MB "
                                           "limit.")
            for info in z.infolist():
                target = (out / info.filename).resolve()
                check(str(target).startswith(str(out.resolve())), f"{path.name}: member '{info.filename}' would "
                                                                   "unpack outside its folder; refused.")
            z.extractall(out)
        (out / ".done").touch()
    entries = [p for p in out.iterdir() if not p.name.startswith((".", "__MACOSX"))]
    return entries[0] if len(entries) == 1 and entries[0].is_dir() else out


def _load_folder(path: Path, text_column, label_column, max_file_mb: float) -> TweetData:
    """A folder: a `datasets` DatasetDict saved with save_to_disk, train/test files, or a Hub snapshot."""
    if (path / "dataset_dict.json").exists():
        import datasets

        try:
            ds = datasets.load_from_disk(str(path))
        except Exception as e:
            raise UserError(f"{path}: a saved DatasetDict that datasets cannot read ({type(e).__name__}: "
                            f"{e}).") from None
        return _from_dataset_dict(ds, str(path), text_column, label_column)
    direct = {s: [p] for s, p in zip(("train", "test"), _split_files(path, strict=False)) if p is not None}
    shards = direct if len(direct) == 2 else _snapshot_files(path)
    if len(shards) < 2:
        _split_files(path)  # raises the message that lists what the folder holds
    tr = _frame(_read_shards(shards["train"], max_file_mb), text_column, label_column, shards["train"][0].name)
    te = _frame(_read_shards(shards["test"], max_file_mb), text_column, label_column, shards["test"][0].name)
    data = _build(tr, te, str(path))
    if shards is not direct:
        data.notices.append("Splits from the file names: train " + ", ".join(p.name for p in shards["train"][:3])
                            + "; test " + ", ".join(p.name for p in shards["test"][:3]) + ".")
    return data


def _split_files(folder: Path, strict: bool = True) -> tuple[Path, Path]:
    def find(stem_names):
        for stem in stem_names:
            for ext in FORMATS:
                p = folder / f"{stem}{ext}"
                if p.exists():
                    return p
        return None

    train, test = find(("train",)), find(("test", "validation", "valid", "dev"))
    if not strict:
        return train, test
    files = sorted(p.name for p in folder.iterdir())[:12]
    check(
        train is not None and test is not None,
        f"folder '{folder.name}' needs a train file and a test file (train.csv and test.csv, or "
        ".tsv/.jsonl/.json/.parquet), "
        f"a DatasetDict saved with save_to_disk, or a Hub snapshot (data/train-*.parquet, ...); "
        f"found: {', '.join(files) or 'nothing'}.",
    )
    return train, test


def load_data(
    source: str | None = None,
    *,
    text_column: str | None = None,
    label_column: str | None = None,
    test_size: float = 0.2,
    seed: int = 42,
    max_file_mb: float = DEFAULT_MAX_FILE_MB,
) -> TweetData:
    """Load a dataset. `source`: None/'auto' (the Hub default, else the bundled sample), 'sample',
    a folder with train/test files, one file (split here, stratified, seeded), or a Hub dataset id."""
    src = (source or "auto").strip()
    if src == "auto":
        if hub_available():
            return load_hub(DEFAULT_HUB_DATASET, text_column=text_column, label_column=label_column)
        data = load_data("sample", test_size=test_size, seed=seed)
        data.notices.insert(
            0,
            f"Offline ({offline_reason()}): using the bundled sample of {len(data.train) + len(data.test)} "
            "tweets written for this project, not the real dataset. Give a file or folder for real data.",
        )
        return data
    if src == "sample":
        frame = _frame(read_table(SAMPLE_PATH), None, None, SAMPLE_PATH.name)
        tr, te = _stratified_split(frame, test_size, seed)
        data = _build(tr, te, "sample")
        data.notices = [n for n in data.notices if not n.startswith("Columns detected")]  # our own file
        data.notices.append("Bundled sample: a few hundred short tweet-like texts written for this project.")
        return data
    path = Path(src).expanduser()
    if path.suffix.lower() == ".zip" and path.is_file():
        data = _load_folder(unpack_zip(path, max_file_mb), text_column, label_column, max_file_mb)
        data.source = str(path)
        return data
    if path.is_dir():
        return _load_folder(path, text_column, label_column, max_file_mb)
    if path.exists() or path.suffix.lower() in FORMATS or src.startswith((".", "/", "~")):
        frame = _frame(read_table(path, max_file_mb=max_file_mb), text_column, label_column, path.name)
        tr, te = _stratified_split(frame, test_size, seed)
        return _build(tr, te, str(path))
    return load_hub(src, text_column=text_column, label_column=label_column)


def display_source(source: str | None) -> str:
    """How a data source is shown to visitors: a Hub id or 'sample' as it is, a file or folder by its name alone
    (an upload lives in the server's temporary folder, which is nobody's business)."""
    src = str(source or "")
    if src in ("", "auto"):
        return "the default dataset"
    if src == "sample":
        return "the bundled sample"
    if src.startswith(("/", ".", "~")) or "\\" in src or Path(src).exists():
        return Path(src).name or src
    return src


def hub_dataset(source: str | None) -> str | None:
    """The Hub dataset id a source is (None for files, folders and the bundled sample)."""
    src = str(source or "")
    if src == "sample" or src.startswith(("/", ".", "~")) or Path(src).exists():
        return None
    return src if re.fullmatch(r"[\w.-]+/[\w.-]+", src) else None


def load_hub(dataset_id: str, *, text_column: str | None = None, label_column: str | None = None) -> TweetData:
    check(
        re.fullmatch(r"[\w.-]+(/[\w.-]+)?", dataset_id) is not None,
        f"'{dataset_id}' is neither an existing file or folder nor a Hub dataset id.",
    )
    if not hub_available():
        raise UserError(
            f"cannot load the Hub dataset '{dataset_id}': {offline_reason()}. Give a local file or folder, or 'sample'."
        )
    import datasets

    try:
        ds = datasets.load_dataset(dataset_id)
    except Exception as e:  # DatasetNotFoundError, connection errors, ...
        raise UserError(f"cannot load the Hub dataset '{dataset_id}': {type(e).__name__}: {e}") from None
    return _from_dataset_dict(ds, dataset_id, text_column, label_column)


def _from_dataset_dict(ds, name: str, text_column: str | None, label_column: str | None) -> TweetData:
    """A `datasets.DatasetDict` (from the Hub or load_from_disk): train, and test (else validation)."""
    test_name = next((s for s in ("test", "validation") if s in ds), None)
    check("train" in ds and test_name, f"dataset '{name}' needs train and test splits; it has {', '.join(ds)}.")
    hint = None
    feat = ds["train"].features.get(label_column or "label")
    if feat is not None and hasattr(feat, "names"):
        hint = list(feat.names)
    tr = _frame(ds["train"].to_pandas(), text_column, label_column, f"{name}[train]")
    te = _frame(ds[test_name].to_pandas(), text_column, label_column, f"{name}[{test_name}]")
    return _build(tr, te, name, names_hint=hint)


# ---------------------------------------------------------------- subsets, leakage, summary


def parse_size(value: str | int | None) -> int | None:
    """'all' or None -> None (everything); a positive integer otherwise."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "all"):
        return None
    try:
        n = int(value)
    except (TypeError, ValueError):
        raise UserError(f"size must be a positive whole number or 'all', got '{value}'.") from None
    check(n > 0, f"size must be a positive whole number or 'all', got {n}.")
    return n


def _stratified_sample(split: Split, n: int | None, n_labels: int, seed: int, what: str) -> Split:
    if n is None or n == len(split):
        return split
    check(
        n <= len(split),
        f"{what} size {n} is larger than the {what} split ({len(split)} rows). Choose a smaller size or 'all'.",
    )
    labels = np.asarray(split.labels)
    counts = np.bincount(labels, minlength=n_labels)
    exact = counts * n / len(split)
    take = np.floor(exact).astype(int)
    for i in np.argsort(-(exact - take), kind="stable")[: n - take.sum()]:
        take[i] += 1
    rng = np.random.RandomState(seed)
    chosen = []
    for c in range(n_labels):
        idx = np.flatnonzero(labels == c)
        chosen.extend(rng.permutation(idx)[: take[c]].tolist())
    chosen = rng.permutation(np.asarray(chosen, dtype=int))
    return Split(tuple(split.texts[i] for i in chosen), tuple(split.labels[i] for i in chosen))


def subset(data: TweetData, train_size=None, eval_size=None, seed: int = 42, eval_seed: int | None = None) -> TweetData:
    """Seeded, stratified subsets of both splits (the same rows for the same seed, on any machine). The eval
    rows come from `eval_seed` (default seed + 1): a study redraws train per seed over one fixed eval split.
    For one seed a smaller train subset lies inside a larger one (each class's rows are a prefix of one
    permutation), so a data-size curve adds tweets instead of redrawing them."""
    tr = _stratified_sample(data.train, parse_size(train_size), data.n_labels, seed, "train")
    te = _stratified_sample(data.test, parse_size(eval_size), data.n_labels,
                            seed + 1 if eval_seed is None else eval_seed, "eval")
    return TweetData(tr, te, list(data.label_names), data.source, list(data.notices), dict(data.dropped_empty),
                     dict(data.cleaning))


def normalise_text(text: str) -> str:
    return " ".join(text.casefold().split())


def leakage_report(data: TweetData, max_examples: int = 10) -> dict:
    """Test rows whose normalised text (case and whitespace folded) also appears in train."""
    train_norm: dict[str, int] = {}
    for i, t in enumerate(data.train.texts):
        train_norm.setdefault(normalise_text(t), i)
    leaked = [
        (j, train_norm[normalise_text(t)]) for j, t in enumerate(data.test.texts) if normalise_text(t) in train_norm
    ]
    examples = [
        {
            "test_index": j,
            "train_index": i,
            "text": data.test.texts[j],
            "test_label": data.label_names[data.test.labels[j]],
            "train_label": data.label_names[data.train.labels[i]],
        }
        for j, i in leaked[:max_examples]
    ]
    return {
        "n_test": len(data.test),
        "n_leaked": len(leaked),
        "share": len(leaked) / max(1, len(data.test)),
        "examples": examples,
    }


def drop_leaked(data: TweetData) -> tuple[TweetData, int]:
    """Remove from train every row whose normalised text appears in test."""
    test_norm = {normalise_text(t) for t in data.test.texts}
    keep = [i for i, t in enumerate(data.train.texts) if normalise_text(t) not in test_norm]
    train = Split(tuple(data.train.texts[i] for i in keep), tuple(data.train.labels[i] for i in keep))
    n = len(data.train) - len(keep)
    out = TweetData(train, data.test, list(data.label_names), data.source, list(data.notices), dict(data.dropped_empty))
    if n:
        out.notices.append(f"Dropped {n} train rows that duplicate test rows (leakage).")
    return out, n


def _length_stats(lengths: list[int]) -> dict:
    a = np.asarray(lengths) if lengths else np.zeros(1)
    return {"mean": round(float(a.mean()), 1), "p95": int(np.percentile(a, 95)), "max": int(a.max())}


def summary(data: TweetData, tokenizer=None) -> dict:
    """Rows, label distribution and text lengths (tokens of `tokenizer`, else whitespace words)."""
    unit = "tokens" if tokenizer is not None else "words"

    def lengths(texts):
        if tokenizer is None:
            return [len(t.split()) for t in texts]
        return [len(ids) for ids in tokenizer(list(texts), add_special_tokens=False)["input_ids"]]

    out = {
        **data.describe(),
        "notices": list(data.notices),
        "dropped_empty": dict(data.dropped_empty),
        "length_unit": unit,
        "splits": {},
    }
    for name, split in (("train", data.train), ("test", data.test)):
        counts = split.label_counts(data.n_labels)
        out["splits"][name] = {
            "rows": len(split),
            "labels": dict(zip(data.label_names, counts)),
            "length": _length_stats(lengths(split.texts)),
        }
    return out


def drop_train_rows(data: TweetData, drop: dict[str, list[int]]) -> TweetData:
    """A new selection without those train rows: its own train fingerprint, the eval split untouched, and a
    notice that records why rows were dropped."""
    rows = sorted({r for v in drop.values() for r in v})
    if not rows:
        raise UserError("nothing to drop: the report found no " + " or ".join(
            {"suspects": "suspected label errors", "conflicts": "conflicting duplicates"}[k] for k in drop)
            + " (or every one was kept).")
    gone = set(rows)
    keep = [i for i in range(len(data.train)) if i not in gone]
    train = Split(tuple(data.train.texts[i] for i in keep), tuple(data.train.labels[i] for i in keep))
    why = ", ".join(f"{len(v)} {k}" for k, v in drop.items())
    out = TweetData(train, data.test, list(data.label_names), data.source, list(data.notices),
                    dict(data.dropped_empty))
    out.notices.append(f"Cleaned: dropped {len(rows)} train rows ({why}) from {data.train_fingerprint}; the eval "
                       "split is untouched.")
    out.cleaning = {"from_train_fingerprint": data.train_fingerprint, "dropped": {k: list(v) for k, v in drop.items()},
                    "n_dropped": len(rows)}
    return out
