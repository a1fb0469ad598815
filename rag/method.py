"""Retrieval (a kNN vote over FAISS, a linear probe on embeddings, or retrieved demonstrations in a prompt) as the
registry sees it. Torch-free."""
from __future__ import annotations

from comparisons.ground.registry import Method


def label(c: dict, resolved: dict) -> str:
    if c.get("mode") == "linear":
        return "rag linear"
    return f"rag {c.get('mode', '')} k={resolved.get('k_used', c.get('k'))}"


def result_lines(record) -> list[str]:
    from comparisons.ground.runs import inference_line

    d, lines = record.diagnostics, inference_line(record)
    if d.get("accuracy_uncalibrated") is not None:
        lines.append(f"- without calibration: accuracy {d['accuracy_uncalibrated']:.3f}; prompts that dropped "
                     f"demonstrations: {d.get('truncated', 0)}")
    if "k_selection" in d:
        lines.append(f"- k = {d['k_selection']['k']} chosen on {d['k_selection']['n_validation']} held-out train "
                     "tweets")
    if "summary" in d:
        s = d["summary"]
        rate = f"{s['embed_tweets_per_second']:.0f} tweets/s" if s.get("embed_tweets_per_second") else \
            "served from cache"
        load = f" after loading the embedder in {s['embedder_load_seconds']:.1f} s" if \
            s.get("embedder_load_seconds") else ""
        lines.append(f"- embedding {s['embed_seconds']:.1f} s ({rate}){load}; index built in "
                     f"{s['index_build_seconds']:.3f} s; query {s['query_ms']:.3f} ms per tweet (batched)")
    return lines


def handicaps(record) -> list[str]:
    truncated = record.diagnostics.get("truncated")
    return [f"{truncated} of its prompts were truncated to fit the model's window"] if truncated else []


def memory(config, data, gpu_name):
    from comparisons.ground.estimate_run import embedding_memory, prompt_memory

    if config.mode == "prompt":
        return prompt_memory(config, data, gpu_name, config.k or 8, shared_prefix=False)
    return embedding_memory(config.embedder, config.batch_size, data, gpu_name)


def seconds(config, data, gpu_name):
    from comparisons.ground.estimate import Timeline, rates_for
    from comparisons.ground.estimate_run import LINEAR_FIT_SECONDS

    from .estimate import embed_time, prompt_time

    if config.mode == "prompt":
        return prompt_time(config, data, gpu_name, config.k or 8, retrieved=True, shared_prefix=False)
    tl = Timeline(rates_for(gpu_name))
    embed_time(tl, config.embedder, config.backend, [data.train.texts, data.test.texts])
    fixed, per_row = LINEAR_FIT_SECONDS
    return tl.add("fit", fixed + per_row * len(data.train) if config.mode == "linear" else 0.5)


def run_all(gpu: bool) -> list:
    from .config import PRESETS

    return [(PRESETS["run_all"].apply(), PRESETS["run_all"].why)]


def _newest_embedder(ctx) -> str:
    record = ctx.newest(METHOD.name)
    return (record.config.get("embedder") if record else "auto") or "auto"


def try_it(ctx) -> None:
    """The kNN vote over the selection's train tweets (always: it needs only the embedder), with the neighbours."""
    from .classify import knn_probs
    from .run import explain

    record = ctx.newest(METHOD.name)
    retriever = ctx.retriever(_newest_embedder(ctx))
    k = int((record.resolved.get("k_used") if record else 0) or 15)
    sims, ids = retriever.neighbours([ctx.text], k)
    labels = ctx.np.where(ids >= 0, retriever.labels[ctx.np.maximum(ids, 0)], -1)
    ctx.add(f"rag knn k={k}", knn_probs(sims, labels, ctx.data.n_labels, k)[0])
    ctx.out["neighbours"] = explain(retriever, ctx.text, ctx.k_neighbours, ctx.data.label_names)


def details(ctx) -> None:
    """One eval tweet's nearest train tweets."""
    import pandas as pd

    from .run import explain

    ctx.out["neighbours"] = pd.DataFrame(explain(ctx.retriever(_newest_embedder(ctx)), ctx.text, ctx.k_neighbours,
                                                 ctx.data.label_names))


def board_settings(record) -> dict:
    c = dict(record.config)
    if not c.get("k"):  # 0: chosen on train; say what it chose
        c["k"] = f"{record.resolved.get('k_used', '?')} (chosen)"
    return c


METHOD = Method(
    name="rag", family="retrieve", title="RAG", config="rag.config:RagConfig", entry="rag.run", tab="ui.rag_tab:build",
    gpu=True, study_names=("rag:knn", "rag:linear", "rag:prompt"),
    display={"rag": "RAG kNN", "rag:knn": "RAG kNN", "rag:linear": "RAG linear", "rag:prompt": "RAG prompt"},
    board_fields=("mode", "k", "index"),
    label=label, result_lines=result_lines, handicaps=handicaps, memory=memory, seconds=seconds, run_all=run_all,
    try_it=try_it, details=details, board_settings=board_settings)
