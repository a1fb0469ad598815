"""Tune · Prompt · Retrieve — the face: Gradio Blocks only. Logic lives in comparisons/service.py
and the method packages; models load lazily, on first use."""
from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import gradio as gr
import pandas as pd

from comparisons import service as svc
from comparisons.errors import UserError
from comparisons.models import EMBEDDER_CHOICES, LM_CHOICES

HEAVY = dict(concurrency_id="heavy", concurrency_limit=1)  # one queue for training and scoring
# The few-shot setting chosen on tweets held out from train (bench/fewshot_select.py) and then measured once
# on all test tweets (bench/RESULTS.md). A literal here: importing fewshot would load torch at start-up.
FEWSHOT_BEST = {"shots": 12, "selection": "retrieved", "template": "plain", "calibration": "both"}
FEWSHOT_BEST_NOTE = (f"Most accurate measured setting: {FEWSHOT_BEST['shots']} {FEWSHOT_BEST['selection']} demonstrations, "
                     f"{FEWSHOT_BEST['template']} template, contextual then batch calibration. "
                     "Chosen on 400 tweets held out from train, then measured once on all 3,534 real test tweets with "
                     "the bundled 135M model: accuracy 0.595, macro-F1 0.598 (6 demonstrations: 0.578). Slow on a "
                     "CPU: 0.87 tweets/s on 2 cores (a ~370-token prompt and 3 content-free prompts per tweet).")
try:  # ZeroGPU Spaces: heavy handlers get a GPU for their duration; locally a no-op
    import spaces  # type: ignore

    def on_gpu(fn):
        return spaces.GPU(duration=600)(fn)
except ImportError:
    def on_gpu(fn):
        return fn

GUIDE = [
    ("Supervised fine-tuning", "The model's weights change to fit labelled examples: a classification head is added "
     "on top of GPT-2 and trained with the Trainer on tweet/label pairs.", "Fine-tune tab: the loss falls as it learns."),
    ("Few-shot learning", "No weights change. A handful of labelled tweets are written into the prompt and the model "
     "scores which label word is most likely next. Small models lean towards one label whatever the tweet; "
     "calibration divides that lean out — it is often worth more than the demonstrations themselves.", "Few-shot tab: the k-sweep shows accuracy against the number of demonstrations."),
    ("Transfer learning", "A model pretrained on general text already knows words and syntax; fine-tuning reuses that "
     "knowledge, which is why a few thousand tweets are enough.", "Compare: fine-tuned runs beat the majority-class rate within one epoch."),
    ("Domain-specific fine-tuning", "Training on one domain (tweets) specialises the model: slang, emoji and "
     "sarcasm patterns become features of the classifier.", "Fine-tune tab: per-class F1 and the confusion matrix."),
    ("Overfitting", "Training loss keeps falling while evaluation loss turns up: the model memorises training tweets. "
     "Early stopping keeps the best checkpoint.", "Fine-tune tab: the train-vs-eval curves and the fit verdict."),
    ("Underfitting", "Both losses stay high and accuracy sits near the majority-class rate: too few steps, too low a "
     "learning rate, or too small a model.", "Fine-tune tab: the fit verdict compares train accuracy with the majority rate."),
    ("Catastrophic forgetting", "Fine-tuning can damage what the model knew before. We measure language-model "
     "perplexity on general English (WikiText-2) before and after: full fine-tuning moves it, LoRA with the adapter "
     "disabled cannot.", "Fine-tune tab and Compare: the forgetting column (perplexity before → after)."),
    ("Data leakage", "If test tweets also appear in train, accuracy is inflated. The Data tab finds exact duplicates "
     "(and, with embeddings, near duplicates) and can drop them from train.", "Data tab: the leakage report."),
    ("Fine-tuning vs RAG", "Retrieval leaves the model alone and looks up similar labelled tweets at query time: "
     "nothing to train, easy to update, explainable by its neighbours; fine-tuning usually wins on accuracy when "
     "labelled data is plentiful.", "Compare tab and Try it: the RAG neighbours explain each answer."),
]


def _session_key(request: gr.Request | None) -> str:
    return getattr(request, "session_hash", None) or "default"


def _err(e: Exception) -> str:
    return f"**Error:** {e}"


# ---------------------------------------------------------------- Data tab

def build_data_tab():
    with gr.Tab("Data", id="data"):
        gr.Markdown("Choose the tweets every method will use. Runs on the same **eval split** are compared side by side.")
        with gr.Row():
            source = gr.Radio([svc.SOURCE_HUB, svc.SOURCE_SAMPLE, svc.SOURCE_UPLOAD], value=svc.SOURCE_HUB,
                              label="Source", info="Offline, the Hub choice falls back to the bundled sample (said below).")
            upload = gr.File(label="Upload (CSV, TSV, JSONL, JSON, Parquet)", file_types=[".csv", ".tsv", ".jsonl", ".json", ".parquet"],
                             type="filepath")
        with gr.Row():
            text_col = gr.Textbox(label="Text column", placeholder="auto: text / sentence / tweet")
            label_col = gr.Textbox(label="Label column", placeholder="auto: label / sentiment / label_text")
            train_size = gr.Textbox(label="Train size", value="", elem_id="train-size", placeholder="1000 (or all, if fewer)",
                                    info="a number or 'all'")
            eval_size = gr.Textbox(label="Eval size", value="", elem_id="eval-size", placeholder="300 (or all, if fewer)",
                                   info="a number or 'all'")
            seed = gr.Number(label="Seed", value=42, precision=0)
            drop = gr.Checkbox(label="Drop leaked train rows", value=False)
        load_btn = gr.Button("Load data", variant="primary", elem_id="load-data")
        notice = gr.Markdown(elem_id="data-notice")
        overview = gr.Markdown(elem_id="data-overview")
        with gr.Row():
            dist = gr.BarPlot(x="label", y="count", color="split", title="Labels per split", height=260)
            hist = gr.BarPlot(x="words", y="tweets", title="Train tweet length (words)", height=260, sort="x")
        leak = gr.Dataframe(label="Leakage: eval tweets also in train", wrap=True, max_height=240)
        with gr.Accordion("Near duplicates (embeddings)", open=False):
            threshold = gr.Slider(0.8, 1.0, value=0.95, step=0.01, label="Cosine threshold")
            near_btn = gr.Button("Find near duplicates")
            near = gr.Dataframe(wrap=True, max_height=240)
    inputs = [source, upload, text_col, label_col, train_size, eval_size, seed, drop]
    return inputs, load_btn, [notice, overview, dist, hist, leak], (near_btn, threshold, near)


def on_load_data(*inputs):
    try:
        data = svc.load_selection(svc.selection_from_ui(*inputs))
    except UserError as e:
        return _err(e), "", gr.skip(), gr.skip(), gr.skip()
    o = svc.data_overview(data)
    notes = "\n".join(f"> {n}" for n in o["notices"])
    return notes, o["markdown"], o["distribution"], o["lengths"], o["leakage"]


def current_data(inputs):
    return svc.load_selection(svc.selection_from_ui(*inputs))


# ---------------------------------------------------------------- method tabs

def _stream(method, values, data_inputs, request, progress, extra_outputs):
    """Yield (status, result markdown, *extra) while a method runs; extra_outputs(events, record)."""
    sess = svc.session(_session_key(request))
    try:
        data = current_data(data_inputs)
        stream = svc.stream_run(method, values, data, sess.stop)
        for events, record, error in stream:
            frac, line = svc.progress_of(events)
            progress(frac, desc=line)
            yield (line if record is None and error is None else "finished", svc.result_markdown(record, error),
                   *extra_outputs(events, record))
    except UserError as e:
        yield "error", _err(e), *extra_outputs([], None)


def build_finetune_tab(data_inputs):
    with gr.Tab("Fine-tune", id="finetune"):
        gr.Markdown("Fine-tune a pretrained LM as a classifier with the Hugging Face `Trainer`: **LoRA** trains small "
                    "adapters and the head; **full** trains every weight. Curves update while it trains.")
        with gr.Row():
            model = gr.Dropdown(LM_CHOICES, value="auto", label="Model", allow_custom_value=True)
            mode = gr.Radio(["lora", "full"], value="lora", label="Mode")
            epochs = gr.Number(value=1, label="Epochs", elem_id="ft-epochs")
            lr = gr.Number(value=0, label="Learning rate", info="0 = the mode's default: 1e-3 LoRA, 3e-5 full")
            batch = gr.Number(value=16, precision=0, label="Batch size", elem_id="ft-batch")
        with gr.Accordion("More settings", open=False):
            with gr.Row():
                max_len = gr.Number(value=128, precision=0, label="Max length (tokens)")
                accum = gr.Number(value=1, precision=0, label="Gradient accumulation")
                wd = gr.Number(value=0.01, label="Weight decay")
                warm = gr.Number(value=0.1, label="Warmup ratio")
            with gr.Row():
                n_evals = gr.Number(value=3, precision=0, label="Evaluations per run", elem_id="ft-evals")
                patience = gr.Number(value=0, precision=0, label="Early-stopping patience (0 = off)")
                lora_r = gr.Number(value=16, precision=0, label="LoRA r")
                lora_alpha = gr.Number(value=32, precision=0, label="LoRA alpha")
                forget = gr.Number(value=4096, precision=0, label="Forgetting probe tokens (0 = off)", elem_id="ft-forget")
        with gr.Row():
            start = gr.Button("Start fine-tuning", variant="primary", elem_id="ft-start")
            stop = gr.Button("Stop", variant="stop", elem_id="ft-stop")
        status = gr.Markdown(elem_id="ft-status")
        with gr.Row():
            loss_plot = gr.LinePlot(x="step", y="value", color="series", title="Loss", height=260)
            acc_plot = gr.LinePlot(x="step", y="value", color="series", title="Accuracy", height=260, y_lim=[0, 1])
        result = gr.Markdown(elem_id="ft-result")
        with gr.Row():
            cm = gr.Plot(label="Confusion matrix")
            download = gr.File(label="Trained adapter / model (safetensors)")
    fields = [model, mode, epochs, lr, batch, max_len, accum, wd, warm, n_evals, patience, lora_r, lora_alpha, forget]
    names = ["model", "mode", "epochs", "learning_rate", "batch_size", "max_length", "grad_accum", "weight_decay",
             "warmup_ratio", "n_evals", "patience", "lora_r", "lora_alpha", "forgetting_tokens"]

    def extra(events, record):
        loss, acc = svc.curves([e for e in events if e.get("event") in ("train", "eval")])
        fig = svc.confusion_figure(record) if record is not None and record.metrics else None
        return _plot(loss), _plot(acc), fig, _zip_model(record)

    @on_gpu
    def handler(*args, request: gr.Request = None, progress=gr.Progress()):
        values = dict(zip(names, args[: len(names)]))
        if values["learning_rate"] in (0, None):
            values["learning_rate"] = None  # the mode's default
        yield from _stream("finetune", values, args[len(names):], request, progress, extra)

    start.click(handler, fields + data_inputs, [status, result, loss_plot, acc_plot, cm, download], api_name="finetune",
                **HEAVY)
    stop.click(lambda request=None: svc.session(_session_key(request)).stop.set() or "stopping…",
               None, status, queue=False)


def _plot(df: pd.DataFrame):
    """No update for an empty frame: a Gradio plot first sent no rows never draws later ones."""
    return df if len(df) else gr.skip()


def _zip_model(record):
    if record is None or not record.artifacts.get("model_dir"):
        return None
    import shutil

    folder = Path(record.artifacts["model_dir"])
    archive = shutil.make_archive(str(Path(tempfile.gettempdir()) / f"{record.run_id}-model"), "zip", folder)
    return archive


def build_fewshot_tab(data_inputs):
    with gr.Tab("Few-shot", id="fewshot"):
        gr.Markdown("Prompt a causal LM with labelled tweets (no training) and score each label word's likelihood. "
                    "**Retrieved** demonstrations are each tweet's nearest train tweets; **calibration** divides out "
                    "the model's label bias, measured on content-free inputs (*contextual*) or as the mean prediction "
                    "over the eval tweets themselves (*batch*: no labels, no extra prompts).")
        with gr.Row():
            model = gr.Dropdown(LM_CHOICES, value="auto", label="Model", allow_custom_value=True)
            shots = gr.Number(value=6, precision=0, label="Shots (k)", elem_id="fs-shots")
            selection = gr.Radio(["random", "balanced", "retrieved"], value="retrieved", label="Demonstrations")
            template = gr.Radio(["plain", "chat", "auto"], value="plain", label="Template")
            calibrate = gr.Checkbox(value=True, label="Calibrate")
            calibration = gr.Radio(["batch", "contextual", "both"], value="batch", label="Calibration",
                                   info="both = contextual, then batch")
        with gr.Accordion("Prompt", open=False):
            instruction = gr.Textbox(value="Classify the sentiment of each tweet as {labels}.", label="Instruction")
            example = gr.Textbox(value="Tweet: {text}\nSentiment: {label}", lines=2, label="Example format (plain)")
            words = gr.Textbox(value="", label="Label words (comma-separated, in label order; empty = label names)")
        with gr.Row():
            start = gr.Button("Run few-shot", variant="primary", elem_id="fs-start")
            best = gr.Button("Most accurate setting", elem_id="fs-best")
            sweep_btn = gr.Button("k-sweep (0,1,2,4,8,16)", elem_id="fs-sweep")
            stop = gr.Button("Stop", variant="stop")
        status = gr.Markdown(elem_id="fs-status")
        result = gr.Markdown(elem_id="fs-result")
        with gr.Row():
            cm = gr.Plot(label="Confusion matrix")
            sweep_plot = gr.LinePlot(x="shots", y="accuracy", color="calibration", title="Accuracy vs shots", height=260)
        examples = gr.Dataframe(label="Example prompts (gold label, label probabilities)", wrap=True, max_height=300)
    fields = [model, shots, selection, template, calibrate, calibration, instruction, example, words]
    names = ["model", "shots", "selection", "template", "calibrate", "calibration", "instruction", "example_format",
             "label_words"]

    def extra(events, record):
        fig = svc.confusion_figure(record) if record is not None and record.metrics else None
        ex = pd.DataFrame(record.diagnostics.get("examples", [])) if record is not None else None
        return fig, ex

    @on_gpu
    def handler(*args, request: gr.Request = None, progress=gr.Progress()):
        values = dict(zip(names, args[: len(names)]))
        for out in _stream("fewshot", values, args[len(names):], request, progress, extra):
            yield *out, gr.skip()

    @on_gpu
    def sweep_handler(*args, request: gr.Request = None, progress=gr.Progress()):
        values = dict(zip(names, args[: len(names)]))
        points = []
        for k in (0, 1, 2, 4, 8, 16):
            last = None
            for out in _stream("fewshot", {**values, "shots": k}, args[len(names):], request, progress, extra):
                last = out
                yield f"k={k}: {out[0]}", out[1], out[2], out[3], _plot(pd.DataFrame(points, columns=["shots", "accuracy", "calibration"]))
            record_md = last[1] if last else ""
            if svc.session(_session_key(request)).stop.is_set() or "Error" in record_md:
                break
            rec = svc.runs_store().list()[0]
            points.append({"shots": k, "accuracy": rec.metrics.get("accuracy"), "calibration": "calibrated" if values["calibrate"] else "raw"})
            if rec.diagnostics.get("accuracy_uncalibrated") is not None and values["calibrate"]:
                points.append({"shots": k, "accuracy": rec.diagnostics["accuracy_uncalibrated"], "calibration": "raw"})
            yield f"k={k} done", last[1], last[2], last[3], _plot(pd.DataFrame(points, columns=["shots", "accuracy", "calibration"]))

    preset = {"shots": shots, "selection": selection, "template": template, "calibration": calibration}
    best.click(lambda: (*(FEWSHOT_BEST[k] for k in preset), True, FEWSHOT_BEST_NOTE), None,
               [*preset.values(), calibrate, status], queue=False)
    start.click(handler, fields + data_inputs, [status, result, cm, examples, sweep_plot], api_name="fewshot", **HEAVY)
    sweep_btn.click(sweep_handler, fields + data_inputs, [status, result, cm, examples, sweep_plot], **HEAVY)
    stop.click(lambda request=None: svc.session(_session_key(request)).stop.set() or "stopping…", None, status, queue=False)


def build_rag_tab(data_inputs):
    with gr.Tab("RAG", id="rag"):
        gr.Markdown("Embed the train tweets with a sentence-transformer, index them in FAISS, and classify each eval "
                    "tweet by its neighbours: a similarity-weighted **kNN** vote, the neighbours as **prompt** "
                    "demonstrations to an LM, or a **linear** probe on the same embeddings.")
        with gr.Row():
            embedder = gr.Dropdown(EMBEDDER_CHOICES, value="auto", label="Embedder", allow_custom_value=True)
            mode = gr.Radio(["knn", "prompt", "linear"], value="knn", label="Mode")
            k = gr.Number(value=0, precision=0, label="k (0 = choose on a train validation slice)")
            index = gr.Radio(["flat", "hnsw", "ivf"], value="flat", label="Index")
            backend = gr.Radio(["torch", "onnx", "onnx-int8"], value="torch", label="Embedding backend",
                               info="ONNX Runtime; int8 is faster on CPU, embeddings shift slightly")
            model = gr.Dropdown(LM_CHOICES, value="auto", label="LM (prompt mode)", allow_custom_value=True)
        with gr.Row():
            start = gr.Button("Run RAG", variant="primary", elem_id="rag-start")
            stop = gr.Button("Stop", variant="stop")
        status = gr.Markdown(elem_id="rag-status")
        result = gr.Markdown(elem_id="rag-result")
        cm = gr.Plot(label="Confusion matrix")
        with gr.Row():
            query = gr.Textbox(label="Neighbours of a tweet", placeholder="type a tweet", scale=4)
            look = gr.Button("Show neighbours", scale=1)
        neighbours = gr.Dataframe(wrap=True, max_height=300)
    fields = [embedder, mode, k, index, backend, model]
    names = ["embedder", "mode", "k", "index", "backend", "model"]

    def extra(events, record):
        return (svc.confusion_figure(record) if record is not None and record.metrics else None,)

    @on_gpu
    def handler(*args, request: gr.Request = None, progress=gr.Progress()):
        values = dict(zip(names, args[: len(names)]))
        yield from _stream("rag", values, args[len(names):], request, progress, extra)

    def show(text, emb, *data_inputs):
        try:
            data = current_data(data_inputs)
            from rag.run import explain

            return pd.DataFrame(explain(svc._retriever(data, emb or "auto"), text, 10, data.label_names))
        except UserError as e:
            raise gr.Error(str(e))

    start.click(handler, fields + data_inputs, [status, result, cm], api_name="rag", **HEAVY)
    look.click(show, [query, embedder] + data_inputs, neighbours, concurrency_limit=4)
    stop.click(lambda request=None: svc.session(_session_key(request)).stop.set() or "stopping…", None, status, queue=False)


# ---------------------------------------------------------------- Compare, Run all, Try it, Guide

def run_all_plan() -> list[tuple[str, dict]]:
    """Run all's sequence and defaults. On a CPU the two fine-tunings see an eighth of an epoch (a 512-token
    forgetting probe, one small curve evaluation) and retrieved few-shot uses 2 demonstrations, so that the
    whole comparison takes about four minutes (bench/RESULTS.md); on a GPU, a full epoch, the 16k-token
    probe and 6 demonstrations. Few-shot runs use batch calibration, which costs no extra prompts."""
    import torch

    gpu = torch.cuda.is_available()
    tune = {"epochs": 1.0 if gpu else 0.125, "forgetting_tokens": 16384 if gpu else 512, "n_evals": 3 if gpu else 1,
            "curve_size": 128 if gpu else 32}
    return [("finetune", {"mode": "lora", **tune}), ("finetune", {"mode": "full", **tune}),
            ("fewshot", {"selection": "balanced", "shots": 6, "calibration": "batch"}),
            ("fewshot", {"selection": "retrieved", "shots": 6 if gpu else 2, "calibration": "batch"}),
            ("rag", {"mode": "knn"})]


def build_compare_tab(data_inputs):
    with gr.Tab("Compare", id="compare"):
        gr.Markdown("Every finished run on one eval split, side by side. **Run all** runs LoRA, full fine-tuning, "
                    "few-shot (balanced and retrieved) and RAG one after another on the current data selection.")
        with gr.Row():
            run_all = gr.Button("Run all", variant="primary", elem_id="run-all")
            refresh = gr.Button("Refresh", elem_id="compare-refresh")
            fp = gr.Dropdown([], label="Eval split (fingerprint)", allow_custom_value=True)
        status = gr.Markdown(elem_id="compare-status")
        table = gr.Dataframe(label="Runs", wrap=True, elem_id="compare-table")
        bars = gr.BarPlot(x="run", y="value", color="metric", title="Accuracy and macro-F1", height=340, x_label_angle=-30,
                          y_lim=[0, 1])
        gallery = gr.Gallery(label="Confusion matrices", columns=3, height=320)
        with gr.Row():
            export = gr.Button("Export CSV / JSON / Markdown")
            files = gr.File(label="Exports", file_count="multiple")
        with gr.Accordion("All runs", open=False):
            all_runs = gr.Dataframe(wrap=True)
            with gr.Row():
                delete_id = gr.Textbox(label="Run id to delete")
                delete = gr.Button("Delete run", variant="stop")

    def view(fingerprint=None):
        store = svc.runs_store()
        t, b, figs, chosen, fps = svc.compare_view(store, fingerprint or None)
        images = [_fig_to_png(f) for f in figs]
        return t, _plot(b), images, gr.update(choices=fps, value=chosen), svc.runs_table(store)

    def do_delete(run_id, fingerprint):
        try:
            svc.runs_store().delete((run_id or "").strip())
        except UserError as e:
            raise gr.Error(str(e))
        return view(fingerprint)

    @on_gpu
    def do_run_all(*data_args, request: gr.Request = None, progress=gr.Progress()):
        t0 = time.perf_counter()
        done = []
        plan = run_all_plan()
        for i, (method, values) in enumerate(plan):
            label = f"{i + 1}/{len(plan)} {method} {values.get('mode', values.get('selection', ''))}"
            for out in _stream(method, values, data_args, request, progress, lambda e, r: ()):
                yield (f"**{label}** — {out[0]} · {svc.wait_seconds(t0)}", gr.skip(), gr.skip(), gr.skip(),
                       gr.skip(), gr.skip())
            done.append(f"{label}: {out[1].splitlines()[0] if out[1] else ''}")
            yield f"**{label}** — done · {svc.wait_seconds(t0)}", *view()
            if svc.session(_session_key(request)).stop.is_set() or out[0] == "error":
                break
        yield (f"Run all finished in {svc.wait_seconds(t0)}.\n\n" + "\n".join(f"- {d}" for d in done)), *view()

    refresh.click(view, fp, [table, bars, gallery, fp, all_runs], concurrency_limit=4)
    fp.input(view, fp, [table, bars, gallery, fp, all_runs])
    delete.click(do_delete, [delete_id, fp], [table, bars, gallery, fp, all_runs])
    export.click(lambda f: svc.export_compare(svc.runs_store(), f, Path(tempfile.mkdtemp(prefix="tpr-export-"))), fp, files)
    run_all.click(do_run_all, data_inputs, [status, table, bars, gallery, fp, all_runs], **HEAVY)
    return view, [table, bars, gallery, fp, all_runs]


def _fig_to_png(fig):
    path = Path(tempfile.mkdtemp(prefix="tpr-cm-")) / "cm.png"
    fig.savefig(path)
    return str(path)


def build_try_tab(data_inputs):
    with gr.Tab("Try it", id="try"):
        gr.Markdown("Type a tweet: every method with a finished run on the current eval split answers side by side.")
        with gr.Row():
            text = gr.Textbox(label="Tweet", placeholder="just got the job offer, so happy!", scale=4, elem_id="try-text")
            go = gr.Button("Classify", variant="primary", scale=1, elem_id="try-go")
        answers = gr.Dataframe(label="Label and probabilities per method", elem_id="try-table")
        neighbours = gr.Dataframe(label="RAG: nearest train tweets", wrap=True)
        prompt = gr.Textbox(label="Few-shot prompt used", lines=8)

    def classify(t, *data_args):
        try:
            out = svc.try_it(t, current_data(data_args), svc.runs_store())
        except UserError as e:
            raise gr.Error(str(e))
        return out["table"], pd.DataFrame(out["neighbours"]), out["prompt"]

    go.click(classify, [text] + data_inputs, [answers, neighbours, prompt], api_name="try_it", concurrency_id="light",
             concurrency_limit=4)
    text.submit(classify, [text] + data_inputs, [answers, neighbours, prompt], api_visibility="private",
                concurrency_id="light", concurrency_limit=4)


def build_guide_tab():
    with gr.Tab("Guide", id="guide"):
        gr.Markdown("## Fine-tune, prompt or retrieve?\n" + "\n".join(
            f"**{name}.** {text} _Where to see it: {where}_\n" for name, text, where in GUIDE))


def build_demo() -> gr.Blocks:
    svc.runs_store().mark_interrupted()
    with gr.Blocks(title="Tune · Prompt · Retrieve") as demo:
        gr.Markdown("# Tune · Prompt · Retrieve\nShould you **fine-tune**, **prompt with examples**, or **retrieve**? "
                    "Run all three on the same tweets and compare. Start in **Data**, then any method tab, then **Compare**.")
        with gr.Tabs():
            data_inputs, load_btn, data_outputs, near = build_data_tab()
            build_finetune_tab(data_inputs)
            build_fewshot_tab(data_inputs)
            build_rag_tab(data_inputs)
            view, compare_outputs = build_compare_tab(data_inputs)
            build_try_tab(data_inputs)
            build_guide_tab()
        load_btn.click(on_load_data, data_inputs, data_outputs, api_name="load_data", concurrency_id="light",
                       concurrency_limit=4)

        def find_near(threshold, *args):
            try:
                return svc.near_duplicate_table(current_data(args), threshold)
            except UserError as e:
                raise gr.Error(str(e))

        near[0].click(find_near, [near[1]] + data_inputs, near[2], **HEAVY)
        demo.load(view, None, compare_outputs)
    demo.queue(max_size=64, default_concurrency_limit=4)
    return demo


demo = build_demo()

if __name__ == "__main__":
    demo.launch(server_name=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
                server_port=int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
                max_file_size=f"{svc.MAX_UPLOAD_MB}mb", show_error=True)
