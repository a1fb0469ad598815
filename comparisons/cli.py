"""python -m comparisons {data,run,compare}: the command line.

Progress goes to stderr; `--json` prints one JSON object on stdout. A mistake the user can fix
prints one line `error: ...` and exits with status 2, without a traceback.
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import os
import sys
import time

from .api import METHODS, config_class
from .config import kind_of
from .device import pin_one_gpu, set_rank_device
from .errors import UserError
from .settings import settings


def _print_err(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _progress(event: dict) -> None:
    kind = event.get("event")
    if kind == "start":
        for n in event.get("notices", []):
            _print_err(f"note: {n}")
    parts = [f"{k}={v}" for k, v in event.items() if k not in ("event", "notices") and not isinstance(v, (list, dict))]
    _print_err(f"[{kind}] " + " ".join(parts))


def _add_data_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data", default=None, help="Hub dataset id, a folder with train/test files, one file, or 'sample' "
                                               "(default: the Hub dataset, or the bundled sample offline)")
    p.add_argument("--text-column", default=None)
    p.add_argument("--label-column", default=None)
    p.add_argument("--test-size", type=float, default=0.2, help="test share when one file is split here")
    p.add_argument("--seed", type=int, default=42)
    p.add_argument("--drop-leaked", action="store_true", help="drop train rows that duplicate test rows")
    p.add_argument("--max-file-mb", type=float, default=None)
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")


def method_fields() -> dict[str, dict[str, dataclasses.Field]]:
    """field name -> {method: field} over every method's config; the Data tab's fields (the seed) come
    from the data options instead."""
    out: dict[str, dict[str, dataclasses.Field]] = {}
    for method in METHODS:
        for f in dataclasses.fields(config_class(method)):
            if f.metadata.get("place") != "data":
                out.setdefault(f.name, {})[method] = f
    return out


def flag_of(name: str) -> str:
    return "--" + name.replace("_", "-")


def add_method_flags(group) -> None:
    """One flag per config field (--field-name, plus the field's own extra spellings); help, default
    and choices come from the field. Values stay strings here: the config coerces and checks them."""
    for name, by_method in method_fields().items():
        parts = []
        for method, f in by_method.items():
            m = f.metadata
            choices = f" {{{'|'.join(map(str, m['choices']))}}}" if m.get("choices") else ""
            parts.append(f"{method}: {m.get('help', '')}{choices} (default {f.default!r})")
        extra = tuple(x for f in by_method.values() for x in f.metadata.get("flags", ()))
        flags = [flag_of(name), *dict.fromkeys(extra)]
        if all(kind_of(f) == "bool" for f in by_method.values()):
            group.add_argument(*flags, dest=name, action=argparse.BooleanOptionalAction, default=None,
                               help="; ".join(parts))
        else:
            group.add_argument(*flags, dest=name, default=None, help="; ".join(parts))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m comparisons",
                                     description="Tune · Prompt · Retrieve: fine-tune, prompt or retrieve?")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("data", help="summary and leakage report of a dataset")
    _add_data_args(p)
    p.add_argument("--tokenizer", default="none", help="count lengths in this model's tokens ('auto', an id), "
                                                      "or 'none' for words")

    p = sub.add_parser("run", help="run one method and record it")
    _add_data_args(p)
    p.add_argument("--method", required=True, choices=list(METHODS))
    p.add_argument("--train-size", default=None, help="a number or 'all' (default 1000, or all where fewer)")
    p.add_argument("--eval-size", default=None, help="a number or 'all' (default 1000, or all where fewer)")
    p.add_argument("--runs-dir", default=None, help="where records go (default: $TPR_RUNS_DIR, else ./runs)")
    p.add_argument("--sweep", default=None, help="fewshot: comma-separated shot counts, e.g. 0,1,2,4,8,16")
    add_method_flags(p.add_argument_group("method options (each method takes its own; built from the configs)"))

    p = sub.add_parser("compare", help="runs side by side")
    p.add_argument("--runs-dir", default=None, help="where records are (default: $TPR_RUNS_DIR, else ./runs)")
    p.add_argument("--fingerprint", default=None, help="only runs on this eval split (default: the newest run's)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--markdown", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    return parser


def _selection(args):
    from .api import Selection

    return Selection(source=args.data, text_column=args.text_column, label_column=args.label_column,
                     train_size=getattr(args, "train_size", None), eval_size=getattr(args, "eval_size", None),
                     seed=args.seed, test_size=args.test_size, drop_leaked=args.drop_leaked)


def cmd_data(args) -> dict:
    from .data import leakage_report, summary

    sel = _selection(args)
    data = sel.load_full(args.max_file_mb)
    tokenizer = None
    if args.tokenizer and args.tokenizer != "none":
        from .models import load_tokenizer_for, resolve_lm

        model = resolve_lm(args.tokenizer)
        tokenizer = load_tokenizer_for(model)
        if model.notice:
            data.notices.append(model.notice)
    out = summary(data, tokenizer)
    out["leakage"] = leakage_report(data)
    if not args.json:
        for n in out["notices"]:
            _print_err(f"note: {n}")
        print(f"source: {out['source']}  labels: {', '.join(out['label_names'])}")
        for name, s in out["splits"].items():
            dist = ", ".join(f"{k} {v}" for k, v in s["labels"].items())
            L = s["length"]
            print(f"{name}: {s['rows']} rows ({dist}); length in {out['length_unit']}: mean {L['mean']}, "
                  f"p95 {L['p95']}, max {L['max']}")
        lk = out["leakage"]
        print(f"leakage: {lk['n_leaked']} of {lk['n_test']} test texts also appear in train")
        for ex in lk["examples"][:5]:
            print(f"  {ex['text'].strip()[:80]!r} (test {ex['test_label']}, train {ex['train_label']})")
    return out


def _method_values(args) -> dict:
    """The config values given on the command line; a flag of another method is an error, not ignored."""
    values, foreign = {}, []
    for name, by_method in method_fields().items():
        v = getattr(args, name, None)
        if v is None:
            continue
        if args.method in by_method:
            values[name] = v
        else:
            foreign.append(flag_of(name))
    if foreign:
        raise UserError(f"{', '.join(sorted(foreign))} is not an option of --method {args.method}.")
    values["seed"] = args.seed
    return values


def cmd_run(args) -> dict:
    from .api import make_config, run_method, summary_json
    from .runs import RunStore

    config = make_config(args.method, _method_values(args))  # settings are checked before any data loads
    data = _selection(args).load(args.max_file_mb)
    for n in data.notices:
        _print_err(f"note: {n}")
    store = RunStore(args.runs_dir or settings().runs_dir)
    store.mark_interrupted()
    if args.sweep:
        if args.method != "fewshot":
            raise UserError("--sweep is a few-shot option.")
        from fewshot.run import sweep

        shots = [int(s) for s in args.sweep.split(",") if s.strip()]
        records = sweep(config, data, shots, on_event=None if args.json else _progress, store=store)
        return {"sweep": [summary_json(r) for r in records]}
    record = run_method(args.method, config, data, store=store, on_event=None if args.json else _progress)
    out = summary_json(record)
    if not args.json:
        print(f"{record.run_id}: {record.status}  accuracy {out['accuracy']:.4f}  macro-F1 {out['macro_f1']:.4f}  "
              f"({out['seconds']:.1f} s)")
    return out


def cmd_compare(args) -> dict | str:
    from .report import comparison_rows, to_csv, to_markdown
    from .runs import RunStore

    store = RunStore(args.runs_dir or settings().runs_dir)
    store.mark_interrupted()
    rows, fingerprint, fingerprints = comparison_rows(store.list(), args.fingerprint)
    if args.json:
        return {"fingerprint": fingerprint, "fingerprints": fingerprints, "runs": rows}
    if args.csv:
        print(to_csv(rows), end="")
    else:
        print(to_markdown(rows, fingerprint))
    return None


def main(argv=None) -> int:
    notice = pin_one_gpu()  # before anything starts CUDA
    if notice:
        _print_err(f"note: {notice}")
    if "WORLD_SIZE" in os.environ:
        set_rank_device()  # under torchrun: this rank's GPU before the estimate or a model touches CUDA
    parser = build_parser()
    args = parser.parse_args(argv)
    t0 = time.perf_counter()
    try:
        out = {"data": cmd_data, "run": cmd_run, "compare": cmd_compare}[args.command](args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    if os.environ.get("RANK", "0") != "0":
        return 0  # under torchrun only rank 0 reports
    if getattr(args, "json", False) and out is not None:
        print(json.dumps(out, default=str))
    _print_err(f"done in {time.perf_counter() - t0:.1f} s")
    return 0
