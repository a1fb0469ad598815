"""The TF-IDF + logistic-regression baseline as the registry sees it: scikit-learn on the CPU, seconds. Torch-free."""
from __future__ import annotations

from comparisons.ground.registry import Method

# TF-IDF + logistic regression on this CPU: 21 s on all 27,480 real tweets (memory: sparse word and char n-gram rows
# plus the vocabularies); time fitted on 9.0 s at 1,000 train tweets and 18.6 s at 8,000.
SECONDS_PER_TWEET = 21 / 27_480
BYTES_PER_TWEET = 40_000
FIXED_SECONDS = 7.6
SECONDS_PER_TRAIN_TWEET = 1.37e-3


def label(c: dict, resolved: dict) -> str:
    return f"baseline tf-idf word {c.get('word_ngrams') or '-'} char {c.get('char_ngrams') or '-'}"


def result_lines(record) -> list[str]:
    from comparisons.ground.runs import inference_line

    t, lines = record.timings, inference_line(record)
    if "fit_seconds" in t:
        lines.append(f"- fitted in {t['fit_seconds']:.1f} s on "
                     f"{record.diagnostics.get('summary', {}).get('features', 0):,} n-gram features")
    return lines


def summary(record) -> dict:
    from comparisons.ground.runs import training_summary

    return training_summary(record)


def memory(config, data, gpu_name):
    from comparisons.ground.estimate import Estimate
    from comparisons.ground.estimate_run import cpu_room

    gpu, room, held = cpu_room()  # scikit-learn: always on the CPU
    n = len(data.train)
    return Estimate(held + n * BYTES_PER_TWEET, n * SECONDS_PER_TWEET, room,
                    {"held": round(held / 2**20), "features": round(n * BYTES_PER_TWEET / 2**20)},
                    "scikit-learn on the CPU; rates measured on all 27,480 real tweets (21 s)")


def seconds(config, data, gpu_name):
    from comparisons.ground.estimate import Timeline, rates_for

    return Timeline(rates_for(gpu_name)).add("fit", FIXED_SECONDS + SECONDS_PER_TRAIN_TWEET * len(data.train))


def run_all(gpu: bool) -> list:
    return [({}, "The TF-IDF baseline: what any language model must beat (seconds).")]


def try_it(ctx) -> None:
    """The newest baseline run, refitted on the selection (seconds), then kept warm with the other classifiers."""
    from .baseline import build
    from .config import BaselineConfig

    record = ctx.newest(METHOD.name)
    if record is None:
        return
    config = BaselineConfig.from_dict(record.config)
    key = (METHOD.name, ctx.data.train_fingerprint, tuple(sorted(config.to_dict().items())))
    train = ctx.data.train
    pipeline = ctx.warm(key, lambda: build(config).fit(list(train.texts), ctx.np.asarray(train.labels)))
    probs = ctx.np.zeros(ctx.data.n_labels)
    probs[pipeline.named_steps["clf"].classes_] = pipeline.predict_proba([ctx.text])[0]
    ctx.add(record.label, probs)


METHOD = Method(
    name="baseline", family="peer", title="TF-IDF baseline", config="peers.config:BaselineConfig",
    entry="peers.baseline", prefix="bl", phrase="the TF-IDF baseline",
    blurb="Word 1–2-grams and character 2–5-grams, TF-IDF weighted, then logistic regression: seconds on a CPU, "
          "no language model. On all 27,480 real train tweets it scored 0.714.",
    study_names=("baseline",), display={"baseline": "TF-IDF"}, board_fields=("word_ngrams", "char_ngrams", "C"),
    warm={"baseline": 4},
    label=label, result_lines=result_lines, summary=summary, memory=memory, seconds=seconds, run_all=run_all,
    try_it=try_it)
