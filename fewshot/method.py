"""Few-shot prompting (demonstrations in the prompt, label scoring, calibration) as the registry sees it. Torch-free."""
from __future__ import annotations

from comparisons.ground.registry import Method

from .config import SWEEP_SHOTS


def label(c: dict, resolved: dict) -> str:
    how = "zero-shot" if not c.get("shots") else f"k={c.get('shots')} {c.get('selection', '')}"
    how_cal = {"batch": " +batch-cal", "both": " +ctx+batch-cal"}.get(c.get("calibration"), " +cal")
    cal = how_cal if c.get("calibrate") else ""
    return f"fewshot {how} {c.get('template', '')}{cal}"


def result_lines(record) -> list[str]:
    from comparisons.ground.runs import inference_line

    d, lines = record.diagnostics, inference_line(record)
    if d.get("accuracy_uncalibrated") is not None:
        how = (d.get("summary") or {}).get("calibration")
        lines.append((f"- calibration: {how}; " if how and how != "none" else "- ")
                     + f"without calibration: accuracy {d['accuracy_uncalibrated']:.3f}; prompt tokens (mean) "
                     f"{d.get('prompt_tokens_mean', '-')}; prompts that dropped demonstrations: "
                     f"{d.get('truncated', 0)}")
    return lines


def handicaps(record) -> list[str]:
    truncated = record.diagnostics.get("truncated")
    return [f"{truncated} of its prompts were truncated to fit the model's window"] if truncated else []


def findings(done, newest) -> dict:
    fs = newest(lambda r: r.method == METHOD.name and r.diagnostics.get("summary", {}).get("accuracy_calibrated"))
    if fs is None:
        return {}
    s = fs.diagnostics["summary"]
    return {"Few-shot learning": f"your {fs.label}: {s['accuracy_uncalibrated']:.3f} uncalibrated → "
                                 f"{s['accuracy_calibrated']:.3f} calibrated ({s['calibration']})."}


def _shared_prefix(config) -> bool:
    return config.selection != "retrieved" and config.use_cache


def memory(config, data, gpu_name):
    from comparisons.ground.estimate_run import prompt_memory

    return prompt_memory(config, data, gpu_name, config.shots, _shared_prefix(config))


def seconds(config, data, gpu_name):
    from rag.estimate import prompt_time

    return prompt_time(config, data, gpu_name, config.shots, config.selection == "retrieved", _shared_prefix(config))


def run_all(gpu: bool) -> list:
    from .config import PRESETS

    balanced, retrieved = PRESETS["run_all_balanced"], PRESETS["run_all_retrieved_gpu" if gpu else
                                                               "run_all_retrieved_cpu"]
    return [(balanced.apply(), balanced.why), (retrieved.apply(), retrieved.why)]


def _classifier(ctx, record):
    from .config import FewshotConfig
    from .run import FewshotClassifier

    cfg = FewshotConfig.from_dict(record.config)
    key = (METHOD.name, ctx.data.train_fingerprint, tuple(sorted(cfg.to_dict().items())))
    retriever = ctx.retriever(cfg.embedder) if cfg.selection == "retrieved" else None
    return ctx.warm(key, lambda: FewshotClassifier(cfg, ctx.data, retriever=retriever))


def _scored(ctx):
    """(record, classifier, scores) of the newest few-shot run on the context's text; None without such a run."""
    record = ctx.newest(METHOD.name)
    if record is None:
        return None
    clf = _classifier(ctx, record)
    return record, clf, clf.score([ctx.text], prior=record.diagnostics.get("batch_prior"))


def try_it(ctx) -> None:
    """The newest few-shot run's prompt and classifier (a language model: two kept warm) on the visitor's text."""
    found = _scored(ctx)
    if found is None:
        return
    record, clf, scored = found
    ctx.add(record.label, scored["probs"][0])
    ctx.out["prompt"] = clf.prompt_text(ctx.text)


def details(ctx) -> None:
    """One eval tweet's prompt, and its probabilities before and after calibration."""
    import pandas as pd

    found = _scored(ctx)
    if found is None:
        return
    _, clf, scored = found
    ctx.out["prompt"] = clf.prompt_text(ctx.text)
    ctx.out["prompt_probs"] = pd.DataFrame([{"probabilities": stage, **{n: round(float(p), 3) for n, p in
                                                                    zip(ctx.data.label_names, v)}}
                                       for stage, v in (("before calibration", scored["probs_uncalibrated"][0]),
                                                        ("after calibration", scored["probs"][0]))])


def sweep(config, data, shots, **kwargs):
    from .run import sweep as run_sweep

    return run_sweep(config, data, shots, **kwargs)


METHOD = Method(
    name="fewshot", family="prompt", title="Few-shot", config="fewshot.config:FewshotConfig", entry="fewshot.run",
    tab="ui.fewshot_tab:build", gpu=True,
    study_names=("fewshot:balanced", "fewshot:retrieved", "fewshot:random"),
    display={"fewshot:balanced": "few-shot balanced", "fewshot:retrieved": "few-shot retrieved",
             "fewshot:random": "few-shot random", "fewshot": "few-shot"},
    board_fields=("shots", "selection", "calibration"), warm={"fewshot": 2},
    label=label, result_lines=result_lines, handicaps=handicaps, findings=findings, memory=memory, seconds=seconds,
    run_all=run_all, try_it=try_it, details=details, sweep=sweep, sweep_field="shots", sweep_values=SWEEP_SHOTS)
