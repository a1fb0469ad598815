"""Model cards and pushing to the Hub. Every saved adapter or model folder gets a `README.md` written with
huggingface_hub's ModelCard: YAML metadata (base model, library, datasets, metrics with their values, pipeline
tag) and the run's settings, data fingerprint, forgetting figures, fit verdict, time and hardware, and how to
load it. `push(...)` uploads a run's folder with huggingface_hub, with the visitor's OAuth token or HF_TOKEN."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path

from comparisons.ground import registry

# The bundled offline models are copies of these Hub models: the card names the Hub id, never a server path.
BUNDLED_HUB_IDS = {"bundled:SmolLM2-135M-Instruct": "HuggingFaceTB/SmolLM2-135M-Instruct",
                   "bundled:all-MiniLM-L6-v2": "sentence-transformers/all-MiniLM-L6-v2"}
HUB_ID = re.compile(r"[A-Za-z0-9][\w.-]*(/[\w.-]+)?")
REPO_ID = re.compile(r"[A-Za-z0-9][\w.-]{0,95}/[A-Za-z0-9][\w.-]{0,95}")
# Files of our own loaders that hold server paths (the base model's local folder): kept here, never pushed.
NOT_PUSHED = ["tpr_model.json", "tpr_adapted.json"]


def hub_id(name: str | None) -> str | None:
    """The Hub id a model name stands for (None for a local folder or another run's model)."""
    if not name:
        return None
    if name in BUNDLED_HUB_IDS:
        return BUNDLED_HUB_IDS[name]
    if name.startswith(("/", ".", "~", "run:")) or os.sep in name.replace("/", "", 1) or not HUB_ID.fullmatch(name):
        return None
    return name


def _kind(record) -> dict:
    """library, pipeline tag and three lines that load the folder, by what the run saved."""
    method = registry.find(record.method)
    facts = method.card(record) if method is not None else {}
    return facts or {"library": "transformers", "pipeline": "text-classification", "load": [
        "from transformers import AutoModelForSequenceClassification, AutoTokenizer",
        'model = AutoModelForSequenceClassification.from_pretrained("{repo}")',
        'tokenizer = AutoTokenizer.from_pretrained("{repo}")']}


def card_for(record, repo: str | None = None):
    """The run's ModelCard (huggingface_hub), for the repo it will be pushed to (a placeholder until then)."""
    from huggingface_hub import EvalResult, ModelCard, ModelCardData

    from comparisons.ground.data import display_source, hub_dataset
    from comparisons.ground.stats import accuracy_interval

    kind = _kind(record)
    base = hub_id(record.resolved.get("resolved_model") or record.resolved.get("resolved_embedder"))
    dataset = hub_dataset(record.data.get("source"))
    m = record.metrics or {}
    name = (repo or f"tpr-{record.run_id}").split("/")[-1]
    results = []
    if m.get("accuracy") is not None and kind["pipeline"] == "text-classification":
        for metric, value, label in (("accuracy", m["accuracy"], "Accuracy"),
                                     ("f1", m.get("macro_f1"), "Macro-F1")):
            if value is not None:
                results.append(EvalResult(task_type="text-classification", dataset_type=dataset or "custom",
                                          dataset_name=dataset or display_source(record.data.get("source")),
                                          dataset_split="test", metric_type=metric, metric_value=round(value, 4),
                                          metric_name=label, **({"metric_config": "macro"} if metric == "f1" else {})))
    data = ModelCardData(
        base_model=base, library_name=kind["library"], pipeline_tag=kind["pipeline"],
        datasets=[dataset] if dataset else None, metrics=["accuracy", "f1"] if results else None,
        tags=["tune-prompt-retrieve", record.method, *([record.config["mode"]] if record.config.get("mode") else [])],
        model_name=name, eval_results=results or None, language="en")
    return ModelCard(f"---\n{data.to_yaml()}\n---\n{_body(record, repo, kind, base, accuracy_interval(record))}")


def _body(record, repo, kind, base, interval) -> str:
    from comparisons.ground.data import display_source

    m, d, t, hw = record.metrics or {}, record.diagnostics or {}, record.timings or {}, record.hardware or {}
    repo = repo or "<your-name>/<repo>"
    lines = [f"# {record.label}", "",
             f"Made with Tune · Prompt · Retrieve (run `{record.run_id}`, "
             f"{'stopped early by its user' if record.status == 'stopped' else 'trained to the end'}, "
             f"{record.created_at[:10]}). Base model: `{base or record.resolved.get('resolved_model')}`.",
             ""]
    if str(record.resolved.get("resolved_model", "")).startswith("bundled:"):
        lines += ["_Trained offline on the bundled copy of the base model (a Q4_1 GGUF file, dequantised), whose "
                  "weights differ slightly from the Hub's: loaded onto the Hub's base model, it may score a little "
                  "differently._", ""]
    if m.get("accuracy") is not None:
        ci = f" (95 % Wilson interval {interval[0]:.3f}–{interval[1]:.3f})" if interval else ""
        lines += ["## Results", "",
                  f"- accuracy **{m['accuracy']:.4f}**{ci}, macro-F1 {m.get('macro_f1', 0):.4f} on "
                  f"{record.data.get('n_eval')} eval texts"]
        for label, row in (m.get("per_class") or {}).items():
            lines.append(f"  - {label}: precision {row.get('precision', 0):.3f}, recall {row.get('recall', 0):.3f}, "
                         f"F1 {row.get('f1', 0):.3f}")
    adaptation = d.get("adaptation")
    if adaptation:
        lines += ["## Domain adaptation", "", f"- {adaptation.get('verdict', '')}"]
    forgetting = d.get("forgetting") or {}
    if forgetting.get("before") is not None:
        lines += ["", "## Forgetting", "",
                  f"- perplexity on general English (WikiText): {forgetting['before']:.2f} → "
                  f"{forgetting.get('after', float('nan')):.2f}" + (f" — {forgetting['text']}" if forgetting.get(
                      "text") else "")]
    fit = d.get("fit") or {}
    if fit.get("verdict"):
        lines += ["", "## Fit", "", f"- {fit['verdict']}: {fit.get('reason', '')}"]
    lines += ["", "## Data", "",
              f"- source: {display_source(record.data.get('source'))}; labels: "
              f"{', '.join(record.data.get('label_names') or record.label_names)}",
              f"- {record.data.get('n_train')} train / {record.data.get('n_eval')} eval texts; eval split fingerprint "
              f"`{record.data.get('fingerprint')}`, train fingerprint `{record.data.get('train_fingerprint')}`"]
    if record.data.get("cleaning"):
        lines.append(f"- train cleaned before training: {json.dumps(record.data['cleaning'])[:300]}")
    lines += ["", "## Training settings", "", "| setting | value |", "| --- | --- |"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in sorted(record.config.items()) if not isinstance(v, (dict, list))]
    seconds = t.get("train_seconds", t.get("fit_seconds"))
    lines += ["", "## Time and hardware", "",
              f"- trained in {seconds:.1f} s" if seconds is not None else "- training time not recorded",
              f"- device: {record.device}{' · ' + hw['gpu_name'] if hw.get('gpu_name') else ''}"
              f"{' · precision ' + str(hw['precision']) if hw.get('precision') else ''}",
              f"- trainable parameters: {record.trainable_params} of {record.total_params}", "",
              "## How to load", "", "```python", *[line.format(repo=repo) for line in kind["load"]], "```", ""]
    return "\n".join(lines)


def _cell(value) -> str:
    """A value inside a Markdown table cell: one line, no column breaks."""
    return str(value).replace("\n", "\\n").replace("|", "\\|")


def write_card(record, folder: Path) -> Path:
    """README.md in the model folder; a LoRA adapter's config names its base model by Hub id, not by the server's
    local folder, so the pushed adapter loads anywhere."""
    folder = Path(folder)
    adapter = folder / "adapter_config.json"
    base = hub_id(record.resolved.get("resolved_model"))
    if adapter.exists() and base:
        cfg = json.loads(adapter.read_text())
        cfg["base_model_name_or_path"] = base
        adapter.write_text(json.dumps(cfg, indent=2))
    path = folder / "README.md"
    card_for(record).save(path)
    return path
