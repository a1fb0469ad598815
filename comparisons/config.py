"""A small base for method configs: dataclasses whose fields are documented and checked in
`__post_init__`, with `to_dict`/`from_dict` (as setfit's TrainingArguments)."""
from __future__ import annotations

import dataclasses

from .errors import UserError


class ConfigBase:
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
            kwargs[k] = _coerce(v, fields[k], cls.__name__)
        return cls(**kwargs)


def _coerce(value, f: dataclasses.Field, owner: str):
    """Settings arrive as strings from forms and the CLI: turn them into the field's type."""
    t = f.type if isinstance(f.type, str) else getattr(f.type, "__name__", str(f.type))
    try:
        if t.startswith("int") and not isinstance(value, bool):
            if isinstance(value, float) and not value.is_integer():
                raise ValueError
            return int(value)
        if t.startswith("float"):
            return float(value)
        if t.startswith("bool"):
            if isinstance(value, str):
                return value.strip().lower() in ("1", "true", "yes", "on")
            return bool(value)
    except (TypeError, ValueError):
        raise UserError(f"setting '{f.name}' must be a {t.split(' ')[0]}, got {value!r}.") from None
    return value


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
