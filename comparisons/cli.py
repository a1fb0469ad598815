"""python -m comparisons {data,run,study,compare,push,board}: the command line.

Progress goes to stderr; `--json` prints one JSON object on stdout. A mistake the user can fix
prints one line `error: ...` and exits with status 2, without a traceback.
"""
from __future__ import annotations

import argparse
import contextlib
import dataclasses
import json
import os
import sys
import time

from comparisons.ground import registry
from comparisons.ground.config import kind_of
from comparisons.ground.device import pin_one_gpu, set_rank_device
from comparisons.ground.errors import UserError
from comparisons.ground.settings import settings
from comparisons.running.api import config_class


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
    for method in registry.names():
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
    p.add_argument("--quality", action="store_true", help="the data-quality report of train: duplicates and "
                   "conflicting labels, suspected label errors (cleanlab), class balance, empty/URL/emoji-only "
                   "texts, length outliers")
    p.add_argument("--train-size", default=None, help="--quality: a seeded subset of train (default all)")
    p.add_argument("--embedder", default="auto", help="--quality: the sentence embedder (default MiniLM)")

    p = sub.add_parser("run", help="run one method and record it")
    _add_data_args(p)
    p.add_argument("--method", required=True, choices=list(registry.names()))
    p.add_argument("--train-size", default=None, help="a number or 'all' (default 1000, or all where fewer)")
    p.add_argument("--eval-size", default=None, help="a number or 'all' (default 1000, or all where fewer)")
    p.add_argument("--runs-dir", default=None, help="where records go (default: $TPR_RUNS_DIR, else ./runs)")
    p.add_argument("--sweep", default=None, help="fewshot: comma-separated shot counts, e.g. 0,1,2,4,8,16")
    p.add_argument("--drop", default=None, help="clean train first: 'suspects' (cleanlab's suspected label errors), "
                                                "'conflicts' (duplicates with conflicting labels), or both "
                                                "comma-separated; the eval split is never touched")
    p.add_argument("--keep", default="", help="with --drop: train rows to keep anyway (comma-separated, as the "
                                              "quality report numbers them)")
    p.add_argument("--push-to-hub", default=None, metavar="REPO", help="after the run, push its saved model and "
                                                                     "model card to this Hub repo (uses HF_TOKEN)")
    add_method_flags(p.add_argument_group("method options (each method takes its own; built from the configs)"))

    p = sub.add_parser("study", help="a grid of runs (axes x methods x seeds) with intervals and crossovers",
                       description="e.g. study --axis train_size=32,128,512 --methods lora,fewshot:balanced,rag:knn,"
                                   "rag:linear --seeds 3 --eval-size 300 --json")
    _add_data_args(p)
    p.add_argument("--preset", default=None, help="a named study: cpu (bundled models, 2 cores, ~20 min) or gpu; "
                                                  "flags given beside it override it")
    p.add_argument("--spec", default=None, help="a study file (JSON or YAML) with methods, axis, axis2, seeds, "
                                                "eval_size, settings, ...")
    p.add_argument("--methods", default=None, help="comma-separated: lora, full, fewshot:balanced|retrieved|random, "
                                                   "rag:knn|linear|prompt, baseline, setfit (or method:choice)")
    p.add_argument("--axis", default=None, help="field=v1,v2,...: train_size, or any setting (lr, epochs, lora_r, "
                                                "batch_size, shots, k, ...)")
    p.add_argument("--axis2", default=None, help="a second axis: a heatmap per method")
    p.add_argument("--seeds", type=int, default=None, help="seeds per cell (default 3); each redraws the train subset")
    p.add_argument("--eval-size", default=None, help="eval tweets, fixed for every cell (default 300; or 'all')")
    p.add_argument("--train-size", default=None, help="train tweets when train_size is not an axis (default 1000)")
    p.add_argument("--metric", default=None, choices=["accuracy", "macro_f1"])
    p.add_argument("--set", action="append", default=[], metavar="FIELD=VALUE",
                   help="a setting for every method that has it, e.g. --set epochs=2 (repeatable)")
    p.add_argument("--name", default=None)
    p.add_argument("--resume", default=None, metavar="STUDY_ID", help="run a study's unfinished cells")
    p.add_argument("--list", action="store_true", help="list the studies and exit")
    p.add_argument("--dry-run", action="store_true", help="check the study, print its cells and estimated time")
    p.add_argument("--png", default=None, help="write the chart here")
    p.add_argument("--runs-dir", default=None, help="where records go (default: $TPR_RUNS_DIR, else ./runs)")
    p.add_argument("--backend", default="local", choices=["local", "ray"],
                   help="local: cells one after another here; ray: each cell a Ray task (pip install '.[ray]')")
    p.add_argument("--address", default=None, help="a Ray cluster to join (host:port, ray://host:port, auto); "
                   "default: $TPR_RAY_ADDRESS, else a local Ray with this machine's CPUs and GPUs")

    p = sub.add_parser("push", help="push a run's saved model and its model card to the Hub (uses HF_TOKEN)")
    p.add_argument("run_id")
    p.add_argument("repo", help="your-name/model-name")
    p.add_argument("--public", action="store_true", help="a public repo (default private)")
    p.add_argument("--runs-dir", default=None, help="where records are (default: $TPR_RUNS_DIR, else ./runs)")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("board", help="workshop boards: list them, or print one's leaderboard",
                       description="board (list) | board CODE [--markdown|--csv|--json] [--freeze] [--remove RUN_ID]")
    p.add_argument("code", nargs="?", default=None)
    p.add_argument("--freeze", action="store_true", help="freeze the board (its leaderboard is kept as it stands)")
    p.add_argument("--remove", default=None, metavar="RUN_ID", help="take an entry off the board")
    p.add_argument("--runs-dir", default=None, help="where records are (default: $TPR_RUNS_DIR, else ./runs)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--markdown", action="store_true")
    fmt.add_argument("--csv", action="store_true")

    p = sub.add_parser("recommend", help="the decision card: which method for your labels, target, latency and "
                       "hardware, with labels needed from a study's forecast")
    p.add_argument("--runs-dir", default=None, help="where records are (default: $TPR_RUNS_DIR, else ./runs)")
    src = p.add_mutually_exclusive_group()
    src.add_argument("--study", default=None, help="a study over train_size (forecasts, labels for a target)")
    src.add_argument("--fingerprint", default=None, help="the runs on this eval split (default: the newest run's)")
    p.add_argument("--labels", type=int, default=None, help="labels available now (default: the runs' train size)")
    p.add_argument("--target", type=float, default=None, help="a target accuracy, e.g. 0.75")
    p.add_argument("--max-ms", type=float, default=None, help="a latency budget per tweet, in milliseconds")
    p.add_argument("--hardware", default="this machine", help="where it will serve: 'this machine', cpu-basic, "
                   "t4-small, l4, a10g-small, a100-large")
    p.add_argument("--max-train-seconds", type=float, default=None, help="a training time budget")
    p.add_argument("--at", type=int, default=None, help="also forecast the accuracy at this many labels")
    p.add_argument("--json", action="store_true")

    p = sub.add_parser("compare", help="runs side by side")
    p.add_argument("--runs-dir", default=None, help="where records are (default: $TPR_RUNS_DIR, else ./runs)")
    p.add_argument("--fingerprint", default=None, help="only runs on this eval split (default: the newest run's)")
    p.add_argument("--paired", nargs=2, metavar=("RUN_A", "RUN_B"), default=None,
                   help="a paired test of two runs on the same eval split (bootstrap interval and McNemar)")
    fmt = p.add_mutually_exclusive_group()
    fmt.add_argument("--json", action="store_true")
    fmt.add_argument("--markdown", action="store_true")
    fmt.add_argument("--csv", action="store_true")
    return parser


def _selection(args):
    from comparisons.running.api import Selection

    return Selection(source=args.data, text_column=args.text_column, label_column=args.label_column,
                     train_size=getattr(args, "train_size", None), eval_size=getattr(args, "eval_size", None),
                     seed=args.seed, test_size=args.test_size, drop_leaked=args.drop_leaked)


def cmd_quality(args) -> dict:
    from comparisons.analysis.quality import quality_report

    sel = _selection(args)
    sel.train_size, sel.eval_size = args.train_size or "all", "all"
    data = sel.load(args.max_file_mb)
    report = quality_report(data, embedder=args.embedder)
    if not args.json:
        for n in data.notices:
            _print_err(f"note: {n}")
        print(f"quality of {report['n_train']} train rows ({data.source}), {report['seconds']['total']:.0f} s:")
        for line in report["summary"]:
            print(f"- {line}")
        suspects = next(f for f in report["findings"] if f["key"] == "label_suspects")["detail"][:10]
        for d in suspects:
            print(f"  row {d['row']}: {d['label']} -> {d['suggested']}? (quality {d['label_quality']:.3f}) "
                  f"{d['text'].strip()[:80]!r}")
    return report


def cmd_data(args) -> dict:
    from comparisons.ground.data import leakage_report, summary

    if args.quality:
        return cmd_quality(args)
    sel = _selection(args)
    data = sel.load_full(args.max_file_mb)
    tokenizer = None
    if args.tokenizer and args.tokenizer != "none":
        from comparisons.ground.models import load_tokenizer_for, resolve_lm

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
    from comparisons.ground.runs import RunStore
    from comparisons.running.api import make_config, run_method, summary_json

    config = make_config(args.method, _method_values(args))  # settings are checked before any data loads
    if args.push_to_hub:  # a push that cannot happen is said before the run, not after it
        from comparisons.serving.push import check_push, cli_token

        check_push(args.push_to_hub, cli_token())
    data = _selection(args).load(args.max_file_mb)
    if args.drop:
        from comparisons.analysis.quality import DROP_KINDS, quality_report, rows_to_drop
        from comparisons.ground.data import drop_train_rows

        kinds = [k.strip() for k in args.drop.split(",") if k.strip()]
        if not kinds or any(k not in DROP_KINDS for k in kinds):
            raise UserError(f"--drop takes {' and/or '.join(DROP_KINDS)}, comma-separated; got {args.drop!r}.")
        try:
            keep = [int(k) for k in args.keep.split(",") if k.strip()]
        except ValueError:
            raise UserError(f"--keep takes row numbers, comma-separated; got {args.keep!r}.") from None
        data = drop_train_rows(data, rows_to_drop(quality_report(data), kinds, keep))
    for n in data.notices:
        _print_err(f"note: {n}")
    store = RunStore(args.runs_dir or settings().runs_dir)
    store.mark_interrupted()
    if args.sweep:
        sweep = registry.get(args.method).sweep
        if sweep is None:
            having = " or ".join(m.title.lower() for m in registry.all_methods() if m.sweep)
            raise UserError(f"--sweep is a {having} option.")

        shots = [int(s) for s in args.sweep.split(",") if s.strip()]
        records = sweep(config, data, shots, on_event=None if args.json else _progress, store=store)
        return {"sweep": [summary_json(r) for r in records]}
    record = run_method(args.method, config, data, store=store, on_event=None if args.json else _progress)
    if record is None:  # another torchrun rank ran this method (it does not split across ranks)
        return None
    out = summary_json(record)
    if args.push_to_hub:
        out["pushed_to"] = _push(record, args.push_to_hub, private=True)
    if not args.json and not registry.get(record.method).classifier:
        print(f"{record.run_id}: {record.status}  {record.diagnostics.get('adaptation', {}).get('verdict', '')}  "
              f"({out['seconds']:.1f} s)")
    elif not args.json:
        print(f"{record.run_id}: {record.status}  accuracy {out['accuracy']:.4f}  macro-F1 {out['macro_f1']:.4f}  "
              f"({out['seconds']:.1f} s)")
    return out


def _study_spec(args):
    """The spec from --preset, then --spec, then the flags (each over the one before); checked by run_study."""
    from comparisons.running.study import STUDY_PRESETS, StudySpec, load_spec

    d: dict = {}
    if args.preset:
        if args.preset not in STUDY_PRESETS:
            raise UserError(f"unknown study preset '{args.preset}'. Presets: {', '.join(STUDY_PRESETS)}.")
        d.update(json.loads(json.dumps(STUDY_PRESETS[args.preset].spec)))
    if args.spec:
        d.update(load_spec(args.spec))
    flags = {"methods": args.methods, "axis": args.axis, "axis2": args.axis2, "seeds": args.seeds,
             "eval_size": args.eval_size, "train_size": args.train_size, "metric": args.metric, "name": args.name,
             "data": args.data, "text_column": args.text_column, "label_column": args.label_column}
    d.update({k: v for k, v in flags.items() if v is not None})
    if args.test_size != 0.2:
        d["test_size"] = args.test_size
    if args.drop_leaked:
        d["drop_leaked"] = True
    if args.seed != 42:
        d["seed"] = args.seed
    if isinstance(d.get("methods"), str):
        d["methods"] = [m.strip() for m in d["methods"].split(",") if m.strip()]
    extra = {}
    for item in args.set:
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UserError(f"--set {item!r}: write it as FIELD=VALUE, e.g. --set epochs=2.")
        extra[name.strip()] = value.strip()
    d["settings"] = {**(d.get("settings") or {}), **extra}
    if not d.get("methods"):
        raise UserError("name the methods (--methods lora,rag:knn,...), a --spec file or a --preset.")
    if not d.get("axis"):
        raise UserError("name an axis (--axis train_size=32,128,512), a --spec file or a --preset.")
    return StudySpec.from_dict(d)


def cmd_study(args) -> dict | None:
    from comparisons.analysis import study_report
    from comparisons.ground.runs import RunStore
    from comparisons.running.study import StudyStore, estimate_seconds, finished_cells, load_full, plan, run_study

    runs = RunStore(args.runs_dir or settings().runs_dir)
    store = StudyStore(runs)
    if args.list:
        studies = [{"study_id": s.study_id, "status": s.status, "done": len(s.cells), "cells": s.n_cells,
                    "label": s.label} for s in store.list()]
        if not args.json:
            for s in studies:
                print(f"{s['study_id']}  {s['status']:<11} {s['done']}/{s['cells']}  {s['label']}")
        return {"studies": studies}
    done: dict = {}
    if args.resume:
        study = store.load(args.resume)
        from comparisons.running.study import StudySpec

        spec = StudySpec.from_dict(study.spec)
        done = finished_cells(store, study)
    else:
        spec = _study_spec(args)
    full = load_full(spec)
    cells = plan(spec, full)  # a bad spec stops here: nothing has run
    for n in full.notices:
        _print_err(f"note: {n}")
    seconds = estimate_seconds(spec, full, cells, skip=set(done))
    todo = [c for c in cells if c.key not in done]
    _print_err(f"study: {len(cells)} cells, {len(todo)} to run; estimated "
               + ("(unknown)" if seconds is None else f"{seconds / 60:.1f} min") + " on this device")
    if args.dry_run:
        return {"cells": [c.key for c in cells], "to_run": [c.key for c in todo], "estimated_seconds": seconds}

    def progress(e):
        if e.get("event") == "cell" and not e.get("skipped"):
            _print_err(f"[cell {e['index'] + 1}/{e['total']}] {e['cell']}")
        elif e.get("event") == "end":
            _print_err(f"[cell {e['index'] + 1}/{e['total']}] {e['status']} {e.get('run_id', '')}")

    runs.mark_interrupted()
    study = run_study(None if args.resume else spec, runs=runs, resume=args.resume, full=full,
                      on_event=None if args.json else progress, backend=args.backend, address=args.address)
    v = study_report.view(store, study, len(full.train))
    if args.png:
        v["figure"].savefig(args.png)
    if not args.json:
        print(f"study {study.study_id}: {study.status} (on {study.where})")
        print(study_report.display_table(v["table"], spec, v["study"].where).to_string(index=False))
        for line in v["findings"]:
            print(f"- {line.replace('**', '')}")
    return study_report.to_json(study, v["table"], v["cells"], len(full.train))


def _push(record, repo: str, private: bool) -> str:
    from comparisons.serving.push import cli_token, push

    url = push(record, repo, cli_token(), private=private)
    _print_err(f"pushed {record.run_id} to {url}")
    return url


def cmd_push(args) -> dict:
    from comparisons.ground.runs import RunStore

    record = RunStore(args.runs_dir or settings().runs_dir).load(args.run_id)
    return {"run_id": record.run_id, "pushed_to": _push(record, args.repo, private=not args.public)}


def cmd_board(args) -> dict | None:
    from comparisons.ground.runs import RunStore
    from comparisons.serving.board import Board, BoardStore, summary, to_csv, to_json, to_markdown

    store = BoardStore(RunStore(args.runs_dir or settings().runs_dir))
    if not args.code:
        if args.freeze or args.remove:
            raise UserError("name the board: board CODE --freeze / --remove RUN_ID.")
        found = sorted(store.root.glob("*.json")) if store.root.is_dir() else []
        listed = [Board.from_dict(json.loads(p.read_text(encoding="utf-8"))) for p in found]
        if args.json:
            return {"boards": [to_json(b, store.rows(b)) for b in listed]}
        for b in listed:
            print(summary(b, store.rows(b)))
        if not listed:
            print("no boards yet")
        return None
    board = store.load(args.code)
    if args.remove:
        board = store.remove(board.code, None, args.remove)  # the machine's owner may act as every host
    if args.freeze:
        board = store.freeze(board.code, None)
    rows = store.rows(board)
    if args.json:
        return to_json(board, rows)
    print(to_csv(rows) if args.csv else to_markdown(board, rows), end="")
    return None


def cmd_recommend(args) -> dict | None:
    from comparisons.analysis.decision import Inputs, for_store, markdown
    from comparisons.ground.runs import RunStore

    inputs = Inputs(labels=args.labels, target=args.target, max_ms=args.max_ms, hardware=args.hardware,
                    max_train_seconds=args.max_train_seconds, at=args.at)
    card = for_store(RunStore(args.runs_dir or settings().runs_dir), inputs, args.study, args.fingerprint)
    if args.json:
        return card
    print(markdown(card))
    return None


def cmd_compare(args) -> dict | str:
    from comparisons.analysis.report import comparison_rows, to_csv, to_markdown
    from comparisons.ground.runs import RunStore

    store = RunStore(args.runs_dir or settings().runs_dir)
    store.mark_interrupted()
    if args.paired:
        from comparisons.ground.stats import paired_records

        test = paired_records(store.load(args.paired[0]), store.load(args.paired[1]))
        if not args.json:
            print(test.verdict())
            return None
        return test.to_dict()
    rows, fingerprint, fingerprints = comparison_rows(store.list(), args.fingerprint)
    if args.json:
        return {"fingerprint": fingerprint, "fingerprints": fingerprints, "runs": rows}
    if args.csv:
        print(to_csv(rows), end="")
    else:
        print(to_markdown(rows, fingerprint))
    return None


@contextlib.contextmanager
def stdout_to_stderr():
    """Everything a command prints while it runs goes to stderr, from Python or from C (SetFit's trainer prints its
    loss dictionaries on stdout, tqdm.write too), so that `--json` leaves one JSON object alone on stdout."""
    sys.stdout.flush()
    saved = os.dup(1)
    try:
        os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield
    finally:
        sys.stdout.flush()
        os.dup2(saved, 1)
        os.close(saved)


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
        commands = {"data": cmd_data, "run": cmd_run, "study": cmd_study, "compare": cmd_compare, "push": cmd_push,
                    "board": cmd_board, "recommend": cmd_recommend}
        quiet = stdout_to_stderr() if getattr(args, "json", False) else contextlib.nullcontext()
        with quiet:
            out = commands[args.command](args)
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
