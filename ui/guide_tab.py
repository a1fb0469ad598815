"""Guide tab: the concepts, each pointing at the measurement in the app that shows it."""

from __future__ import annotations

import gradio as gr

from .common import PRIVATE

GUIDE = [
    (
        "Supervised fine-tuning",
        "The model's weights change to fit labelled examples: a classification head is added "
        "on top of GPT-2 and trained with the Trainer on tweet/label pairs.",
        "Fine-tune tab: the loss falls as it learns.",
    ),
    (
        "Few-shot learning",
        "No weights change. A handful of labelled tweets are written into the prompt and the model "
        "scores which label word is most likely next. Small models lean towards one label whatever the tweet; "
        "calibration divides that lean out — it is often worth more than the demonstrations themselves.",
        "Few-shot tab: the k-sweep shows accuracy against the number of demonstrations.",
    ),
    (
        "Transfer learning",
        "A model pretrained on general text already knows words and syntax; fine-tuning reuses that "
        "knowledge, which is why a few thousand tweets are enough. Its textbook form freezes the model and trains "
        "only a linear head on its features: 0 LM weights train, against ~1 % for LoRA and 100 % for full "
        "fine-tuning.",
        "Fine-tune tab, mode **head** (the frozen-feature probe), beside LoRA and full in Compare: accuracy against "
        "trainable parameters and time.",
    ),
    (
        "Domain-specific fine-tuning",
        "Continuing the language model's own training on text from the target domain — here the task's unlabelled "
        "tweets (TAPT) — before classifying (Gururangan et al. 2020, *Don't Stop Pretraining*). Perplexity on tweets "
        "falls while perplexity on general English rises: the model specialises at a cost. Its benefit to a "
        "classifier should be largest when labels are few.",
        "Adapt tab: the two perplexities before → after; then Fine-tune from `run:<id>` beside the base model in "
        "Compare (or a study over train sizes).",
    ),
    (
        "Overfitting",
        "Training loss keeps falling while evaluation loss turns up: the model memorises training tweets. "
        "Early stopping keeps the best checkpoint.",
        "Fine-tune tab: the train-vs-eval curves and the fit verdict.",
    ),
    (
        "Underfitting",
        "Both losses stay high and accuracy sits near the majority-class rate: too few steps, too low a "
        "learning rate, or too small a model.",
        "Fine-tune tab: the fit verdict compares train accuracy with the majority rate.",
    ),
    (
        "Catastrophic forgetting",
        "Fine-tuning can damage what the model knew before. We measure language-model "
        "perplexity on general English (WikiText-2) before and after: full fine-tuning moves it, LoRA with the adapter "
        "disabled cannot.",
        "Fine-tune tab and Compare: the forgetting column (perplexity before → after).",
    ),
    (
        "Data leakage",
        "If test tweets also appear in train, accuracy is inflated. The Data tab finds exact duplicates "
        "(and, with embeddings, near duplicates) and can drop them from train.",
        "Data tab: the leakage report.",
    ),
    (
        "Fine-tuning vs RAG",
        "Retrieval leaves the model alone and looks up similar labelled tweets at query time: "
        "nothing to train, easy to update, explainable by its neighbours; fine-tuning usually wins on accuracy when "
        "labelled data is plentiful.",
        "Compare tab and Try it: the RAG neighbours explain each answer. The Decision card (Compare and Studies) "
        "turns it into a choice: which method for your labels, accuracy target, latency and hardware, and how many "
        "labels each would need.",
    ),
]


def guide_markdown(figures: dict[str, str] | None = None) -> str:
    figures = figures or {}
    parts = ["## Fine-tune, prompt or retrieve?"]
    for name, text, where in GUIDE:
        parts.append(f"**{name}.** {text} _Where to see it: {where}_")
        if figures.get(name):
            parts.append(f"> **Your runs:** {figures[name]}")
    return "\n\n".join(parts)


def build():
    """The tab; returns (the refresh function, its output) so that the page fills in the visitor's figures."""
    with gr.Tab("Guide", id="guide"):
        refresh = gr.Button("Show my figures", elem_id="guide-refresh")
        text = gr.Markdown(guide_markdown(), elem_id="guide-text")

    def fill(request: gr.Request = None):
        from comparisons.analysis import report

        from .common import visitor

        return guide_markdown(report.guide_figures(visitor(request).store().list()))

    refresh.click(fill, None, text, **PRIVATE)
    return fill, text
