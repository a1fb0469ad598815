"""The base of every method's settings: a dataclass whose fields carry their help text, bounds and
choices (`setting(...)`), checked in `__post_init__`, with `to_dict`/`from_dict` as setfit's
TrainingArguments. The CLI builds its flags and the app its widgets from these fields, so a setting is
declared once. Torch-free: the face and the CLI import configs without loading any model library.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

from comparisons.ground.errors import UserError

# Where a field appears in the app: the tab's first row, its "More settings", the Data tab (which owns
# the seed shared by the data subsets and the method, as the CLI's --seed does), or nowhere but the CLI
# ("cli": a server path, which the app never reads; uploads are its only files).
PLACES = ("main", "more", "data", "cli")
SEED_MAX = 2**31 - 1  # numpy's seeds stop at 2**32 - 1; studies and eval splits add small offsets to a seed
MAX_CHARS = 300  # the longest value of a text setting (a Hub id, a list of label words), unless it says otherwise


def setting(
    default,
    help: str,
    *,
    label: str = "",
    choices: tuple = (),
    suggestions: tuple = (),
    low=None,
    high=None,
    low_open: bool = False,
    hint: str = "",
    place: str = "more",
    flags: tuple[str, ...] = (),
    max_chars: int = 0,
):
    """A config field with everything the CLI and the app need to expose it.

    choices: the only allowed values (checked); suggestions: offered values, others allowed (model ids);
    low/high: bounds (checked, `low_open` for > low); place: where the app shows it (PLACES);
    flags: extra CLI spellings besides --field-name (e.g. --lr); max_chars: the longest text a str field takes
    (default MAX_CHARS)."""
    if place not in PLACES:
        raise ValueError(f"place must be one of {PLACES}")
    meta = {
        "help": help,
        "label": label,
        "choices": tuple(choices),
        "suggestions": tuple(suggestions),
        "low": low,
        "high": high,
        "low_open": low_open,
        "hint": hint,
        "place": place,
        "flags": tuple(flags),
        "max_chars": max_chars or MAX_CHARS,
    }
    return field(default=default, metadata=meta)


def kind_of(f: dataclasses.Field) -> str:
    """'bool', 'int', 'float' or 'str' (annotations are strings under `from __future__ import annotations`)."""
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    for k in ("bool", "int", "float"):
        if t.startswith(k):
            return k
    return "str"


def optional(f: dataclasses.Field) -> bool:
    """True when None is a meaningful value (e.g. 'the mode's default learning rate')."""
    return "None" in (f.type if isinstance(f.type, str) else str(f.type))


def label_of(f: dataclasses.Field) -> str:
    return f.metadata.get("label") or f.name.replace("_", " ").capitalize()


class ConfigBase:
    """Mixin for method configs: validation from field metadata, dict round trip, presets."""

    def __post_init__(self):
        for f in dataclasses.fields(self):
            m, value = f.metadata, getattr(self, f.name)
            if not m or value is None:
                continue
            if isinstance(value, float) and not math.isfinite(value):
                raise UserError(f"{f.name} must be a finite number, got {value}.")
            if isinstance(value, str) and len(value) > m.get("max_chars", MAX_CHARS):
                raise UserError(f"{f.name} is {len(value):,} characters long; it takes at most "
                                f"{m.get('max_chars', MAX_CHARS):,}.")
            if m["choices"]:
                one_of(f.name, value, m["choices"])
            if m["low"] is not None or m["high"] is not None:
                in_range(f.name, value, m["low"], m["high"], low_open=m["low_open"], hint=m["hint"])
        self.check()

    def check(self) -> None:
        """Rules across fields or beyond bounds; subclasses override."""

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, values: dict):
        """Build from a dict; None values mean 'use the default'; unknown keys are an error."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = sorted(k for k, v in values.items() if k not in fields and v is not None)
        if unknown:
            raise UserError(f"unknown {cls.__name__} setting(s): {', '.join(unknown)}. Known: {', '.join(fields)}.")
        kwargs = {}
        for k, v in values.items():
            if v is None or k not in fields:
                continue
            kwargs[k] = coerce(v, fields[k])
        return cls(**kwargs)

    @classmethod
    def defaults(cls) -> dict:
        return {f.name: f.default for f in dataclasses.fields(cls)}


def coerce(value, f: dataclasses.Field):
    """Settings arrive as strings from forms and the CLI: turn them into the field's type. An empty
    string for an optional field means None (its default rule)."""
    kind = kind_of(f)
    if optional(f) and (value is None or (isinstance(value, str) and not value.strip())):
        return None
    try:
        if kind == "int" and not isinstance(value, bool):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if kind == "float":
            return float(value)
        if kind == "bool":
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            if not isinstance(value, (bool, int, float)):
                raise TypeError
            return bool(value)
        if not isinstance(value, str):
            raise TypeError
    except (TypeError, ValueError, OverflowError):
        raise UserError(f"setting '{f.name}' must be a {kind}, got {shown_value(value)}.") from None
    return value


def shown_value(value) -> str:
    """A value a visitor sent, for a message: a short repr of a scalar; only the type of anything else (a dict or a
    list may carry a file the server stored for them, whose path is not theirs to see)."""
    if value is None or isinstance(value, (str, int, float, bool)):
        text = repr(value)
        return text if len(text) <= 60 else text[:57] + "..."
    return f"a {type(value).__name__}"


@dataclass(frozen=True)
class Preset:
    """A named set of values over a config's defaults, with the reason it differs from them."""

    name: str
    values: dict
    why: str  # for developers: the measurement behind it (bench/RESULTS.md)
    note: str = ""  # for the app's visitors: what it means for them, in their words (defaults to `why`)

    @property
    def shown(self) -> str:
        return self.note or self.why

    def apply(self, values: dict | None = None) -> dict:
        return {**self.values, **(values or {})}


def in_range(name: str, value, low=None, high=None, *, low_open=False, hint: str = "") -> None:
    """Raise a UserError naming the setting when value is outside [low, high] (or (low, high])."""
    bad = (low is not None and (value <= low if low_open else value < low)) or (high is not None and value > high)
    if bad:
        lo = "" if low is None else (f"> {low}" if low_open else f">= {low}")
        hi = "" if high is None else f"<= {high}"
        rule = " and ".join(x for x in (lo, hi) if x)
        raise UserError(f"{name} must be {rule}, got {value}.{(' ' + hint) if hint else ''}")


def one_of(name: str, value, choices) -> None:
    if value not in choices:
        raise UserError(f"{name} must be one of {', '.join(map(str, choices))}, got {value!r}.")
