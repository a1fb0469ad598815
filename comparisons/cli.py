"""python -m comparisons {data,run,compare}: the command line.

Progress goes to stderr; `--json` prints one JSON object on stdout. A mistake the user can fix
prints one line `error: ...` and exits with status 2, without a traceback.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

from .errors import UserError

# CLI flag -> config field, per method. Flags a method does not know are errors, not silently ignored.
METHOD_FLAGS = {
    "finetune": {"model": "model", "mode": "mode", "epochs": "epochs", "lr": "learning_rate", "batch_size": "batch_size",
                 "grad_accum": "grad_accum", "max_length": "max_length", "weight_decay": "weight_decay",
                 "warmup_ratio": "warmup_ratio", "eval_steps": "eval_steps", "patience": "patience",
                 "lora_r": "lora_r", "lora_alpha": "lora_alpha", "lora_dropout": "lora_dropout",
                 "lora_targets": "lora_targets", "torch_compile": "torch_compile",
                 "forgetting_tokens": "forgetting_tokens", "forgetting_text": "forgetting_text", "seed": "seed"},
    "fewshot": {"model": "model", "shots": "shots", "selection": "selection", "calibrate": "calibrate",
                "calibration": "calibration",
                "template": "template", "label_words": "label_words", "batch_size": "batch_size",
                "embedder": "embedder", "seed": "seed", "length_normalise": "length_normalise",
                "max_length": "max_length"},
    "rag": {"embedder": "embedder", "backend": "backend", "mode": "mode", "k": "k", "index": "index", "model": "model",
            "batch_size": "batch_size", "seed": "seed", "calibrate": "calibrate", "calibration": "calibration",
            "template": "template",
            "near_duplicate_threshold": "near_duplicate_threshold"},
}


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
    p.add_argument("--method", required=True, choices=["finetune", "fewshot", "rag"])
    p.add_argument("--train-size", default=None, help="a number or 'all' (default 1000, or all where fewer)")
    p.add_argument("--eval-size", default=None, help="a number or 'all' (default 1000, or all where fewer)")
    p.add_argument("--runs-dir", default="runs")
    g = p.add_argument_group("method options (each method takes its own)")
    g.add_argument("--model", default=None, help="Hub id, local folder or 'auto'")
    g.add_argument("--mode", default=None, help="finetune: full|lora; rag: knn|prompt|linear")
    g.add_argument("--epochs", default=None)
    g.add_argument("--lr", default=None)
    g.add_argument("--batch-size", default=None)
    g.add_argument("--grad-accum", default=None)
    g.add_argument("--max-length", default=None)
    g.add_argument("--weight-decay", default=None)
    g.add_argument("--warmup-ratio", default=None)
    g.add_argument("--eval-steps", default=None)
    g.add_argument("--patience", default=None)
    g.add_argument("--lora-r", default=None)
    g.add_argument("--lora-alpha", default=None)
    g.add_argument("--lora-dropout", default=None)
    g.add_argument("--lora-targets", default=None)
    g.add_argument("--torch-compile", action="store_const", const=True, default=None)
    g.add_argument("--forgetting-tokens", default=None)
    g.add_argument("--forgetting-text", default=None)
    g.add_argument("--shots", default=None)
    g.add_argument("--selection", default=None, help="fewshot: random|balanced|retrieved")
    g.add_argument("--calibrate", dest="calibrate", action="store_const", const=True, default=None)
    g.add_argument("--no-calibrate", dest="calibrate", action="store_const", const=False)
    g.add_argument("--calibration", default=None, help="batch (mean over the eval tweets; default) | contextual (content-free inputs) | both")
    g.add_argument("--template", default=None, help="auto|plain|chat")
    g.add_argument("--label-words", default=None, help="comma-separated, one per label in order")
    g.add_argument("--length-normalise", action="store_const", const=True, default=None)
    g.add_argument("--sweep", default=None, help="fewshot: comma-separated shot counts, e.g. 0,1,2,4,8,16")
    g.add_argument("--embedder", default=None)
    g.add_argument("--k", default=None)
    g.add_argument("--index", default=None, help="rag: flat|hnsw|ivf")
    g.add_argument("--backend", default=None, help="rag: embedding backend torch|onnx|onnx-int8")
    g.add_argument("--near-duplicate-threshold", default=None)

    p = sub.add_parser("compare", help="runs side by side")
    p.add_argument("--runs-dir", default="runs")
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
    flags = METHOD_FLAGS[args.method]
    known_everywhere = set().union(*[set(f) for f in METHOD_FLAGS.values()])
    values, foreign = {}, []
    for flag in known_everywhere:
        v = getattr(args, flag, None)
        if v is None or flag == "seed":
            continue
        if flag in flags:
            values[flags[flag]] = v
        else:
            foreign.append("--" + flag.replace("_", "-"))
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
    store = RunStore(args.runs_dir)
    store.mark_interrupted()
    if args.sweep:
        if args.method != "fewshot":
            raise UserError("--sweep is a few-shot option.")
        from fewshot import sweep

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

    store = RunStore(args.runs_dir)
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
