"""Settings of a few-shot run, declared once (the CLI's flags and the app's widgets come from these
fields), with the presets the app offers. Torch-free."""

from __future__ import annotations

from dataclasses import dataclass

from comparisons.ground.config import SEED_MAX, ConfigBase, Preset, setting
from comparisons.ground.models import EMBEDDER_CHOICES, LM_CHOICES
from comparisons.ground.templates import check_template

from .prompts import DEFAULT_EXAMPLE, DEFAULT_INSTRUCTION

SELECTIONS = ("random", "balanced", "retrieved")
TEMPLATES = ("plain", "chat", "auto")
# batch: the mean predicted label distribution over the eval tweets themselves, no labels used (Zhou et al.
# 2024): no extra prompts. contextual: the bias on content-free inputs (N/A, '', [MASK]) under the same
# demonstrations (Zhao et al. 2021). both: contextual, then batch.
CALIBRATIONS = ("batch", "contextual", "both")
SWEEP_SHOTS = (0, 1, 2, 4, 8, 16)  # the app's k-sweep
# A prompt is the instruction plus `shots` demonstrations of at most EXAMPLE_MAX_CHARS + a tweet each, cut to the
# model's window in tokens (prompts.PromptBuilder.build): these caps bound the text built before that cut.
INSTRUCTION_MAX_CHARS = 2000
EXAMPLE_MAX_CHARS = 500


@dataclass
class FewshotConfig(ConfigBase):
    model: str = setting("auto", "any causal LM: Hub id, local folder, 'auto' (gpt2; the bundled SmolLM2 offline)",
                         label="Model", suggestions=tuple(LM_CHOICES), place="main")
    shots: int = setting(6, "demonstrations per prompt (0 = zero-shot)", label="Shots (k)", low=0, high=256,
                         place="main")
    selection: str = setting("retrieved", "random | balanced (equal per class) | retrieved (each tweet's nearest "
                             "train tweets, KATE)", label="Demonstrations", choices=SELECTIONS, place="main")
    template: str = setting("plain", "plain (Tweet:/Sentiment:) | chat (the model's chat template) | auto",
                            label="Template", choices=TEMPLATES, place="main")
    instruction: str = setting(DEFAULT_INSTRUCTION, "the instruction above the demonstrations; {labels} lists "
                               "the label words (its only placeholder)", label="Instruction",
                               max_chars=INSTRUCTION_MAX_CHARS)
    example_format: str = setting(DEFAULT_EXAMPLE, "one demonstration in the plain template: {text}, then {label} "
                                  "at its end", label="Example format (plain)", max_chars=EXAMPLE_MAX_CHARS)
    label_words: str = setting("", "comma-separated, one per label in order; empty = the label names",
                               label="Label words (comma-separated, in label order; empty = label names)")
    calibrate: bool = setting(True, "divide out the model's label bias (see calibration)", label="Calibrate",
                              place="main")
    # Batch is the default: on the real tweets it was within a tweet of, or well above, contextual on every
    # prompt tried (bench/RESULTS.md), for free.
    calibration: str = setting("batch", "batch (mean over the eval tweets; no extra prompts) | contextual "
                               "(content-free inputs) | both (contextual, then batch)", label="Calibration",
                               choices=CALIBRATIONS, place="main")
    length_normalise: bool = setting(False, "mean instead of sum of the label tokens' log-probabilities")
    batch_size: int = setting(16, "prompts per forward pass", low=1, high=4096)
    max_length: int = setting(0, "prompt window in tokens; 0 = the model's, at most 1,024", low=0, high=32768)
    embedder: str = setting("auto", "retrieved selection: the sentence embedder", label="Embedder (retrieved)",
                            suggestions=tuple(EMBEDDER_CHOICES))
    use_cache: bool = setting(True, "reuse the KV cache of a shared prefix (same numbers, faster)")
    seed: int = setting(42, "seed of the data subsets and of random/balanced demonstrations",
                        low=0, high=SEED_MAX, place="data")

    def check(self):
        check_template(self.instruction, "instruction", allowed=("labels",), max_chars=INSTRUCTION_MAX_CHARS)
        check_template(self.example_format, "example_format", allowed=("text", "label"), required=("text", "label"),
                       max_chars=EXAMPLE_MAX_CHARS)


# The setting chosen on 400 tweets held out from train (bench/fewshot_select.py), then measured once on all
# 3,534 test tweets (bench/RESULTS.md).
MOST_ACCURATE = Preset(
    "most_accurate", {"shots": 12, "selection": "retrieved", "template": "plain", "calibrate": True,
                      "calibration": "both"},
    "Most accurate measured setting: 12 retrieved demonstrations, plain template, contextual then batch "
    "calibration. Chosen on 400 tweets held out from train, then measured once on all 3,534 real test tweets "
    "with the bundled 135M model: accuracy 0.595, macro-F1 0.598 (6 demonstrations: 0.578). Slow on a CPU: "
    "0.87 tweets/s on 2 cores (a ~370-token prompt and 3 content-free prompts per tweet).",
    note="The most accurate setting measured: 12 retrieved demonstrations, contextual then batch calibration. On all "
         "3,534 real test tweets the bundled 135M model scored 0.595 with it (0.578 with 6). Slow on a CPU: about one "
         "tweet a second.")

PRESETS = {
    "most_accurate": MOST_ACCURATE,
    "gpu": Preset("gpu", {"batch_size": 64}, "On a GPU: 64 prompts per forward pass instead of 16."),
    "run_all_balanced": Preset("run_all_balanced", {"selection": "balanced", "shots": 6, "calibration": "batch"},
                               "Run all: 6 balanced demonstrations, batch calibration (no extra prompts)."),
    "run_all_retrieved_cpu": Preset("run_all_retrieved_cpu", {"selection": "retrieved", "shots": 2,
                                                              "calibration": "batch"},
                                    "Run all on a CPU: 2 retrieved demonstrations keep the step near a minute "
                                    "(bench/RESULTS.md); fewer demonstrations than the default."),
    "run_all_retrieved_gpu": Preset("run_all_retrieved_gpu", {"selection": "retrieved", "shots": 6,
                                                              "calibration": "batch"},
                                    "Run all on a GPU: the default 6 retrieved demonstrations."),
}
