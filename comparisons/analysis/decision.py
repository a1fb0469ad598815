"""The decision card: which method to use for the visitor's labels, accuracy target, latency budget and hardware, with
its price. Evidence comes from a study over train_size (forecasts with intervals: comparisons.analysis.forecast) or,
without one, from the visitor's finished runs on one eval split (Wilson intervals, paired tests). The recommendation is
the cheapest method to serve among those statistically tied with the best that fits the budgets, in one sentence with
its reasons, followed by what is missing to decide and a study that would supply it."""
from __future__ import annotations

from dataclasses import dataclass

from comparisons.ground import registry
from comparisons.ground.errors import UserError

# Hugging Face Spaces hardware, hourly prices in US dollars as listed on huggingface.co/pricing (read 2025-06; this
# machine is offline, so they are not re-read: check the page before budgeting). GPU name: the estimate's rates.
PRICES_READ = "2025-06"
HARDWARE = {
    "this machine": {"price": None, "gpu": None, "title": "this machine (measured)"},
    "cpu-basic": {"price": 0.0, "gpu": None, "title": "CPU basic (2 vCPU, free)"},
    "t4-small": {"price": 0.40, "gpu": "T4", "title": "Nvidia T4 small"},
    "l4": {"price": 0.80, "gpu": "L4", "title": "Nvidia 1xL4"},
    "a10g-small": {"price": 1.00, "gpu": "A10G", "title": "Nvidia A10G small"},
    "a100-large": {"price": 2.50, "gpu": "A100", "title": "Nvidia A100 large"},
}
GPU_FLOOR_MS = 0.05  # a GPU's per-tweet time never estimated below this (launch and transfer overheads)


@dataclass
class Inputs:
    labels: int | None = None  # labels available now (default: the selection's train size)
    target: float | None = None
    max_ms: float | None = None  # latency budget per tweet
    hardware: str = "this machine"
    max_train_seconds: float | None = None
    at: int | None = None  # a forecast at this many labels

    def check(self) -> Inputs:
        if self.labels is not None and (not isinstance(self.labels, int) or self.labels < 1):
            raise UserError(f"labels must be a whole number of at least 1, got {self.labels!r}.")
        if self.target is not None and not 0 < self.target <= 1:
            raise UserError(f"the target accuracy is a number between 0 and 1 (0.75 for 75 %), got {self.target}.")
        if self.max_ms is not None and self.max_ms <= 0:
            raise UserError(f"the latency budget is a positive number of milliseconds per tweet, got {self.max_ms}.")
        if self.max_train_seconds is not None and self.max_train_seconds <= 0:
            raise UserError(f"the training time budget is a positive number of seconds, got {self.max_train_seconds}.")
        if self.at is not None and (not isinstance(self.at, int) or self.at < 1):
            raise UserError(f"--at takes a number of labelled tweets, got {self.at!r}.")
        if self.hardware not in HARDWARE:
            raise UserError(f"unknown hardware '{self.hardware}'. Choose one of: {', '.join(HARDWARE)}.")
        return self


def _serving_ms(ms: float | None, method_name: str, hardware: str) -> tuple[float | None, bool]:
    """(ms per tweet on `hardware`, estimated?): measured here; on a GPU scaled by the estimate's rates for methods
    that use one (scikit-learn stays on the CPU)."""
    from comparisons.ground.estimate import device_rate

    gpu = HARDWARE[hardware]["gpu"]
    method = registry.find(method_name)
    if ms is None or hardware in ("this machine", "cpu-basic") or gpu is None or method is None or not method.gpu:
        return ms, hardware not in ("this machine", "cpu-basic") and ms is not None
    return max(GPU_FLOOR_MS, ms * device_rate(None)[0] / device_rate(gpu)[0]), True


def serving_ms(record, others=()) -> float | None:
    """Milliseconds to label one tweet as served: the run's inference rate, plus embedding the tweet where the method
    embeds (RAG: its own embedding rate, or, when a cache served its embeddings, the rate another run of the same
    embedder measured)."""
    if record is None:
        return None
    t = record.timings or {}
    rate = t.get("inference_tweets_per_second")
    if not rate:
        return None
    ms = 1000 / rate
    embedder = (record.resolved or {}).get("resolved_embedder")
    if embedder:
        embed = t.get("embed_tweets_per_second") or next(
            (o.timings.get("embed_tweets_per_second") for o in others if (o.resolved or {}).get("resolved_embedder")
             == embedder and o.timings.get("embed_tweets_per_second")), None)
        if embed:
            ms += 1000 / embed
    return round(ms, 3)


def _row_of_run(r, labels: int | None, target: float | None, others=()) -> dict:
    from comparisons.ground.stats import accuracy_interval

    t = r.timings
    low, high = accuracy_interval(r) or (r.metrics["accuracy"], r.metrics["accuracy"])
    return {"method": r.label, "registry": r.method, "run_id": r.run_id, "source": "run",
            "n_train": r.data.get("n_train"),
            "accuracy_at_labels": {"mean": round(r.metrics["accuracy"], 4), "low": round(low, 4),
                                   "high": round(high, 4)},
            "train_seconds": t.get("train_seconds", t.get("fit_seconds", t.get("total_seconds"))),
            "ms_per_tweet": serving_ms(r, others), "peak_memory_mb": r.peak_memory_mb,
            "trainable_params": r.trainable_params, **_model_size(r), "forecast_at": None,
            "labels_for_target": None if target is None else {"n": None, "reason": "needs a study over train sizes"}}


def _model_size(record) -> dict:
    """The model's size on disk: its saved folder's, else the method's estimate from its config (a study's cells and
    runs that saved none), marked estimated; None for a method that has no model to save (RAG, few-shot)."""
    measured = _model_mb(record)
    if measured is not None:
        return {"model_mb": measured, "model_mb_estimated": False}
    try:
        from comparisons.ground import registry
        from comparisons.running.api import make_config

        size = registry.get(record.method).saved_bytes(make_config(record.method, record.config))
    except Exception:  # a method no longer installed, a model whose config cannot be read here
        size = None
    return {"model_mb": round(size / 2**20, 3) if size else None, "model_mb_estimated": bool(size)}


def _model_mb(record) -> float | None:
    folder = record.artifacts.get("model_dir")
    if not folder:
        return None
    from pathlib import Path

    path = Path(folder)
    if not path.exists():
        return None
    return round(sum(p.stat().st_size for p in path.rglob("*") if p.is_file()) / 2**20, 3)


def card(records: list, inputs: Inputs, study_cells=None, study_records: dict | None = None) -> dict:
    """The card as a dict (the CLI's JSON): per method its evidence, the tied set and the recommendation."""
    from comparisons.analysis import forecast

    inputs.check()
    done = [r for r in records if r.status == "completed" and r.metrics.get("accuracy") is not None
            and r.predictions.get("y_pred") is not None]
    labels = inputs.labels or max([r.data.get("n_train") or 0 for r in done] + [0]) or None
    methods, missing = [], []
    if study_cells is not None and len(study_cells):
        entries = forecast.forecasts(study_cells, at=[n for n in (labels, inputs.at) if n], target=inputs.target)
        for e in entries:
            if "error" in e:
                missing.append(f"{e['method']}: {e['error']}")
                continue
            cells = study_cells[study_cells["method"] == e["method"]]
            near = cells.iloc[(cells["train_size"] - (labels or 0)).abs().argsort()[:3]]
            run_ids = list(near["run_id"])
            run = (study_records or {}).get(run_ids[0]) if study_records else None
            at_labels = e["forecast"][0] if e["forecast"] else None
            methods.append({
                "method": e["method"], "registry": _registry_of(e["method"]), "source": "study",
                "accuracy_at_labels": None if at_labels is None else {k: at_labels[k] for k in ("mean", "low", "high")},
                "forecast_reach": None if at_labels is None else at_labels["reach"],
                "forecast_at": next(({k: f[k] for k in ("n", "mean", "low", "high")} for f in e["forecast"]
                                     if inputs.at and f["n"] == inputs.at), None),
                "labels_for_target": e.get("labels_for_target"), "flat": e["flat"], "backtest": e["backtest"],
                "train_seconds": round(float(near["seconds"].mean()), 1) if len(near) else None,
                "ms_per_tweet": serving_ms(run, list((study_records or {}).values())),
                "peak_memory_mb": getattr(run, "peak_memory_mb", None),
                "trainable_params": None if not len(near) else _int(near["trainable_params"].iloc[0]),
                **(_model_size(run) if run is not None else {"model_mb": None, "model_mb_estimated": False})})
    else:
        newest: dict[str, object] = {}
        for r in done:  # newest first: one run per label
            newest.setdefault(r.label, r)
        methods = [_row_of_run(r, labels, inputs.target, done) for r in newest.values()]
        missing.append("one seed per method: intervals are from the eval split only; a study over train sizes and "
                       "seeds gives forecasts and labels for a target")
    if not methods:
        raise UserError("nothing to decide from yet: finish runs on one eval split, or choose a study over train_size.")
    for m in methods:
        m["ms_on_hardware"], m["ms_estimated"] = _serving_ms(m["ms_per_tweet"], m["registry"] or "", inputs.hardware)
        price = HARDWARE[inputs.hardware]["price"]
        if price is not None and m["ms_on_hardware"] is not None:
            m["dollars_per_million"] = round(m["ms_on_hardware"] / 1000 * 1e6 / 3600 * price, 4)
            m["dollars_per_training_run"] = round((m["train_seconds"] or 0) / 3600 * price, 4)
    best = max(methods, key=lambda m: (m["accuracy_at_labels"] or {}).get("mean", -1))
    tied = [m for m in methods if m is best or _tied(m, best, done)]
    fits = [m for m in tied if _fits(m, inputs)]
    present = {m["registry"] for m in methods}
    for family, what in (("prompt", "few-shot"), ("tune", "fine-tuning"), ("retrieve", "RAG"), ("peer", "peer")):
        if not any(registry.find(n) and registry.find(n).family == family for n in present if n):
            missing.append(f"no {what} run at this split")
    choice = min(fits, key=lambda m: (m["ms_on_hardware"] if m["ms_on_hardware"] is not None else 1e9)) if fits \
        else None
    if choice is None:  # no tied method fits the budgets: the most accurate one that does, said as such
        within = [m for m in methods if _fits(m, inputs)]
        choice = max(within, key=_mean) if within else None
    out = {"labels": labels, "target": inputs.target, "max_ms": inputs.max_ms, "hardware": inputs.hardware,
           "prices_read": PRICES_READ, "methods": methods, "tied_with_best": [m["method"] for m in tied],
           "missing": missing, "suggested_study": _suggestion(methods, labels, _eval_size(done))}
    out["recommendation"] = {"method": choice["method"] if choice else None,
                             "sentence": _sentence(choice, best, tied, methods, inputs, labels)}
    return out


def _registry_of(display: str) -> str | None:
    for m in registry.all_methods():
        if display == m.title or display in m.display.values():
            return m.name
    return None


def _int(v):
    try:
        return int(v)
    except (TypeError, ValueError):
        return None


def _tied(m: dict, best: dict, done: list) -> bool:
    """Tied with the best: a paired test on the same eval tweets where both are runs (interval covers 0); else the
    two intervals overlap."""
    from comparisons.ground.stats import paired_records

    if m.get("run_id") and best.get("run_id"):
        a = next((r for r in done if r.run_id == best["run_id"]), None)
        b = next((r for r in done if r.run_id == m["run_id"]), None)
        if a is not None and b is not None and a.data.get("fingerprint") == b.data.get("fingerprint"):
            return not paired_records(a, b).interval_excludes_zero
    ma, mb = m.get("accuracy_at_labels") or {}, best.get("accuracy_at_labels") or {}
    return bool(ma) and bool(mb) and ma["high"] >= mb["low"]


def _fits(m: dict, inputs: Inputs) -> bool:
    if inputs.max_ms is not None and (m["ms_on_hardware"] is None or m["ms_on_hardware"] > inputs.max_ms):
        return False
    return not (inputs.max_train_seconds is not None and (m["train_seconds"] or 0) > inputs.max_train_seconds)


def _mean(m: dict) -> float:
    return (m.get("accuracy_at_labels") or {}).get("mean", 0.0)


def _acc(m: dict) -> str:
    a = m.get("accuracy_at_labels") or {}
    return f"{a['mean']:.2f} ({a['low']:.2f}–{a['high']:.2f})" if a else "no accuracy"


def _sentence(choice, best, tied, methods, inputs: Inputs, labels) -> str:
    if choice is None:
        why = []
        if inputs.max_ms is not None:
            why.append(f"none of the methods tied with the best serves within {inputs.max_ms:g} ms a tweet on "
                       f"{HARDWARE[inputs.hardware]['title']}")
        if inputs.max_train_seconds is not None:
            why.append(f"or trains within {inputs.max_train_seconds:g} s")
        return f"No recommendation: {' '.join(why) or 'no method fits'}; the most accurate is {best['method']} at " \
               f"{_acc(best)}."
    if choice not in tied:
        return (f"Use {choice['method']}: {_acc(choice)}, the most accurate within your budget "
                f"({choice['ms_on_hardware']:.2f} ms a tweet on {HARDWARE[inputs.hardware]['title']}"
                f"{', estimated' if choice['ms_estimated'] else ''}); {best['method']} is "
                f"{100 * (_mean(best) - _mean(choice)):.0f} points better at {_acc(best)} but serves in "
                f"{best['ms_on_hardware'] or 0:.2f} ms." + _target_text(choice, inputs))
    others = [m for m in tied if m is not choice]
    text = f"Use {choice['method']}: {_acc(choice)} at your {labels:,} labels" if labels else \
        f"Use {choice['method']}: {_acc(choice)}"
    if others:
        text += ", tied with " + ", ".join(f"{m['method']} ({(m['accuracy_at_labels'] or {}).get('mean', 0):.2f})"
                                           for m in others[:3])
    behind = [m for m in methods if m not in tied]
    if behind:
        worst = max(behind, key=lambda m: (m["accuracy_at_labels"] or {}).get("mean", 0))
        gap = 100 * (_mean(choice) - _mean(worst))
        text += f" and {gap:.0f} points over {worst['method']}"
    text += "."
    fast = [m for m in others if m["ms_on_hardware"] and choice["ms_on_hardware"]]
    if choice["ms_on_hardware"]:
        slowest = max(fast, key=lambda m: m["ms_on_hardware"], default=None)
        if slowest is not None and slowest["ms_on_hardware"] > choice["ms_on_hardware"]:
            text += (f" It serves {slowest['ms_on_hardware'] / choice['ms_on_hardware']:.0f}x faster than "
                     f"{slowest['method']} on {HARDWARE[inputs.hardware]['title']}"
                     f"{' (estimated)' if choice['ms_estimated'] else ''}: {choice['ms_on_hardware']:.2f} ms a tweet.")
    return text + _target_text(choice, inputs)


def _target_text(choice: dict, inputs: Inputs) -> str:
    text = ""
    if inputs.target is not None:
        t = choice.get("labels_for_target")
        if t and t.get("n") and t.get("reason") == "reached within the sizes studied":
            text += f" It reached {inputs.target:.2f} already at {t['n']:,} labels in the study."
        elif t and t.get("n"):
            span = f" ({t['low']:,}–{t['high']:,})" if t.get("high") else f" (at least {t['low']:,})"
            text += f" To reach {inputs.target:.2f} you would need about {t['n']:,} labels{span} with it."
        elif t:
            text += f" {inputs.target:.2f} with it: {t['reason']}."
        else:
            text += f" Whether it reaches {inputs.target:.2f} needs a study over train sizes."
    return text


def _eval_size(done) -> int | None:
    """The eval split's size of the evidence (a study drawn on it stays on tweets the data has)."""
    return max([int(r.data.get("n_eval") or 0) for r in done] + [0]) or None


def _suggestion(methods, labels, eval_size: int | None = None) -> dict | None:
    """A study over train sizes up to the visitor's labels (never more: a newcomer with 64 labelled tweets was offered
    256), 3 seeds, of the methods in evidence (their study names), on an eval split the size of the evidence's."""
    names = []
    for m in methods:
        found = registry.find(m["registry"] or "")
        if found is None or not found.classifier:
            continue
        by_display = [n for n in found.names_in_studies if found.display.get(n) == m["method"]
                      or n.partition(":")[2] and n.partition(":")[2] in m["method"]]
        name = (by_display or list(found.names_in_studies))[:1]
        names += [n for n in name if n not in names]
    if not names:
        return None
    top = labels or 1000
    return {"methods": names, "train_sizes": sorted({max(min(8, top), top // 16), max(min(8, top), top // 4), top}),
            "seeds": 3, "eval_size": eval_size}


def _count(n: int) -> str:
    return f"{n / 1e6:.1f} M" if n >= 1e6 else f"{n / 1e3:.0f} k" if n >= 1e3 else str(n)


def markdown(c: dict) -> str:
    """The card for the page and the Markdown export."""
    hw = HARDWARE[c["hardware"]]
    lines = [f"**Recommendation.** {c['recommendation']['sentence']}", "",
             f"Labels: {c['labels'] or '—'} · target: {c['target'] or '—'} · latency budget: "
             f"{str(c['max_ms']) + ' ms' if c['max_ms'] else '—'} · serving on: {hw['title']}", "",
             "| method | accuracy (95 % CI) | labels for target | train s | ms / tweet | $ per million | memory MB "
             "| model MB | trainable |", "|---|---|---|---|---|---|---|---|---|"]
    for m in c["methods"]:
        t = m.get("labels_for_target") or {}
        need = f"{t['n']:,}" if t.get("n") else (t.get("reason", "—") if t else "—")
        est = " (est.)" if m["ms_estimated"] else ""
        ms = "—" if m["ms_on_hardware"] is None else f"{m['ms_on_hardware']:.2f}{est}"
        dollars = "—" if m.get("dollars_per_million") is None else f"{m['dollars_per_million']:.2f}"
        train = "—" if m["train_seconds"] is None else f"{m['train_seconds']:.0f}"
        memory = "—" if m.get("peak_memory_mb") is None else f"{m['peak_memory_mb']:,.0f}"
        size = "—" if m.get("model_mb") is None else f"{m['model_mb']:,.1f}" if m["model_mb"] >= 0.1 else "< 0.1"
        size += " (est.)" if m.get("model_mb_estimated") else ""
        params = "—" if m.get("trainable_params") is None else _count(m["trainable_params"])
        cells = [m["method"], _acc(m), need, train, ms, dollars, memory, size, params]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("Tied with the best: " + ", ".join(c["tied_with_best"]) + ".")
    if c["missing"]:
        lines.append("Missing to decide: " + "; ".join(c["missing"]) + ".")
    s = c["suggested_study"]
    if s:
        lines.append(f"A study that would supply it (Studies tab): {', '.join(s['methods'])} at "
                     f"{', '.join(map(str, s['train_sizes']))} labelled tweets, {s['seeds']} seeds"
                     + (f", {s['eval_size']:,} eval tweets." if s.get("eval_size") else "."))
    if hw["price"] is not None:
        lines.append(f"Prices: Hugging Face Spaces' hourly list prices, read {c['prices_read']}.")
    return "\n".join(lines)


def for_store(store, inputs: Inputs, study_id: str | None = None, fingerprint: str | None = None) -> dict:
    """The card from a run store: a study's cells when `study_id` names one (its axis must be train_size), else the
    finished runs on the eval split `fingerprint` (default: the newest run's)."""
    from comparisons.analysis import report
    from comparisons.analysis.study_report import axes_of, cell_frame
    from comparisons.running.study import TRAIN_SIZE, StudySpec, StudyStore

    inputs.check()
    if study_id:
        studies = StudyStore(store)
        study = studies.load(study_id)
        spec = StudySpec.from_dict(study.spec)
        axis = axes_of(spec)[0].name
        if axis != TRAIN_SIZE:
            raise UserError(f"study {study_id} varies {axis}, not the train size: a forecast of labels needs a study "
                            "over train sizes.")
        records = studies.records(study)
        frame = cell_frame(study, records)
        return card([], inputs, frame, {r.run_id: r for r in records.values()})
    records, _ = report.comparable(store.list(), fingerprint)
    return card(records, inputs)
