"""Fine-tune a causal LM as a sequence classifier with transformers.Trainer, fully or with LoRA.

One path for both modes (they differ in which parameters train). Speed in this path: tokenize once,
pad per batch to the longest row (never to 1,024), length-grouped batches, bf16 and fused AdamW on
CUDA, large evaluation batches, optional torch.compile with lengths bucketed so shapes repeat.
"""
from __future__ import annotations

import copy
import math
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from transformers import DataCollatorWithPadding, PrinterCallback, Trainer, TrainingArguments, set_seed

from comparisons.ground.data import TweetData
from comparisons.ground.device import (
    Precision,
    apply_matmul_policy,
    current_precision,
    distributed_env,
    gpu_settings,
    loader_workers,
    set_rank_device,
)
from comparisons.ground.errors import UserError
from comparisons.ground.metrics import trainer_metrics
from comparisons.ground.models import ResolvedModel, count_parameters, load_causal_lm, load_classifier, resolve_lm
from comparisons.ground.runs import RunRecord, RunStore, finish_predictions, new_record, tracked

from .config import FinetuneConfig
from .diagnostics import body_of, fit_verdict, general_text, memoised_perplexity, perplexity, token_windows
from .events import LiveEvents
from .tensors import TokenizedTweets, by_length, predict_logits  # noqa: F401  (re-exported: finetune.train's own API)

# peft's defaults per architecture (GPT-2's attention is one Conv1D named c_attn).
LORA_TARGETS = {"gpt2": ["c_attn"], "llama": ["q_proj", "k_proj", "v_proj", "o_proj"]}


def init_head_from_label_words(clf, resolved, tokenizer, label_names) -> None:
    """Start the classification head as the LM head's rows for each label's first token, so that
    at step 0 the classifier scores labels exactly as zero-shot prompting would."""
    lm, _ = load_causal_lm(resolved, dtype=next(clf.parameters()).dtype)  # the classifier's dtype
    rows = lm.get_output_embeddings().weight
    ids = [tokenizer(" " + name, add_special_tokens=False)["input_ids"][0] for name in label_names]
    head = clf.score if hasattr(clf, "score") else None
    if head is None or head.weight.shape != (len(ids), rows.shape[1]):
        return  # an architecture with another head: keep its random init
    with torch.no_grad():
        head.weight.copy_(rows[ids].to(head.weight.dtype).to(head.weight.device))


def _lora_targets(model, config: FinetuneConfig) -> list[str]:
    if config.lora_targets.strip():
        return [t.strip() for t in config.lora_targets.split(",") if t.strip()]
    kind = getattr(model.config, "model_type", "")
    if kind in LORA_TARGETS:
        return LORA_TARGETS[kind]
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    found = [t for t in LORA_TARGETS["llama"] if t in names] or [t for t in ("c_attn", "query", "value") if t in names]
    if not found:
        raise UserError(f"no default LoRA target modules for model type '{kind}'; name them with lora_targets.")
    return found


def apply_lora(model, config: FinetuneConfig):
    from peft import LoraConfig, TaskType, get_peft_model

    targets = _lora_targets(model, config)
    lora = LoraConfig(task_type=TaskType.SEQ_CLS, r=config.lora_r, lora_alpha=config.lora_alpha,
                      lora_dropout=config.lora_dropout, target_modules=targets,
                      fan_in_fan_out=getattr(model.config, "model_type", "") == "gpt2")
    return get_peft_model(model, lora)  # SEQ_CLS keeps the new `score` head trainable too


def _distributed() -> tuple[int, int]:
    """(rank, world size): from the process group once it exists, else from torchrun's environment."""
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    rank, _, world = distributed_env()
    return rank, world


def _training_args(config: FinetuneConfig, out_dir: Path, n_train: int, precision: Precision) -> TrainingArguments:
    """Steps from the world size (each rank sees 1/world of the data per step); mixed precision from the
    policy; on CUDA fused AdamW, pinned memory and loader workers; never DataParallel."""
    max_steps, eval_steps = plan_steps(config, n_train, _distributed()[1])
    on_cuda = precision.device == "cuda"
    args = TrainingArguments(
        output_dir=str(out_dir), max_steps=max_steps, learning_rate=config.lr,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.grad_accum, weight_decay=config.weight_decay,
        warmup_steps=int(config.warmup_ratio * max_steps), lr_scheduler_type="linear",
        eval_strategy="steps", eval_steps=eval_steps, logging_steps=max(1, min(eval_steps, 10)),
        save_strategy="no", report_to="none", seed=config.seed, disable_tqdm=True,
        **precision.trainer_flags, optim="adamw_torch_fused" if on_cuda else "adamw_torch",
        train_sampling_strategy="group_by_length", torch_compile=config.torch_compile,
        dataloader_pin_memory=on_cuda or gpu_settings(), use_cpu=not on_cuda, remove_unused_columns=False,
        dataloader_num_workers=loader_workers(on_cuda), ddp_find_unused_parameters=False,
    )
    return one_gpu_per_process(args, _distributed()[1])


def plan_steps(config: FinetuneConfig, n_train: int, world: int) -> tuple[int, int]:
    """(optimizer steps, steps between evaluations): one step consumes batch x accumulation x world tweets."""
    steps_per_epoch = math.ceil(n_train / (config.batch_size * config.grad_accum * world))
    max_steps = max(1, math.ceil(steps_per_epoch * config.epochs), config.min_steps)
    return max_steps, config.eval_steps or max(1, max_steps // config.n_evals)


def one_gpu_per_process(args, world: int):
    """Several GPUs visible without torchrun: the Trainer would wrap the model in DataParallel, training
    n_gpu batches per step while the step count and tweets/s assume one. Keep one GPU, as
    comparisons.ground.device.pin_one_gpu arranges at start-up; this guards callers that skipped it."""
    if world == 1 and args.n_gpu > 1:
        args._n_gpu = 1
    return args


def _forgetting(config, resolved, clf, tokenizer, record, on_event) -> dict:
    """Perplexity on general English of the base LM, then of the fine-tuned body under the base
    LM's own head. LoRA: with the adapter merged, and disabled (which must equal the base)."""
    text, origin = general_text(config.forgetting_text)
    # The base LM in the classifier's dtype: "before" and "after" are measured alike, so the adapter-disabled
    # check holds on every device and the drift carries no precision artefact.
    base_lm, _ = load_causal_lm(resolved, dtype=next(clf.parameters()).dtype)
    window = min(512, getattr(base_lm.config, "max_position_embeddings", 1024) or 1024)
    windows = token_windows(tokenizer, text, config.forgetting_tokens, window)
    head = base_lm.get_output_embeddings()
    clf.eval()
    device = head.weight.device
    before, cached = memoised_perplexity(resolved.path, windows, head.weight.dtype, device.type,
                                         lambda: perplexity(body_of(base_lm), head, windows))
    out = {"text": origin, "tokens": int(windows.numel()), "window": int(windows.shape[1]), "before": round(before, 3),
           "before_from_cache": cached}
    if on_event:
        on_event({"event": "forgetting", "stage": "before", "perplexity": out["before"]})
    if config.mode == "lora":
        # Built-in check: with the adapter disabled the body is the base model, so its perplexity
        # must equal the base's (checked on the first window: the same weights give the same
        # numbers on any text, and a full pass would cost as much as the measurement itself).
        check = windows[:1]
        with clf.disable_adapter():
            disabled = perplexity(body_of(clf.base_model.model).to(device), head, check)
        base_check = perplexity(body_of(base_lm), head, check)
        merged_model = copy.deepcopy(clf).merge_and_unload()
        after = perplexity(body_of(merged_model).to(device), head, windows)
        del merged_model
        out.update(after_adapter_disabled=round(disabled, 3), base_on_check_window=round(base_check, 3),
                   adapter_disabled_equals_base=bool(abs(disabled - base_check) <= 1e-4 * base_check))
    else:
        after = perplexity(body_of(clf).to(device), head, windows)
    out.update(after=round(after, 3), difference=round(after - before, 3), ratio=round(after / before, 4))
    if "bundled" in origin:
        record.notices.append("Forgetting measured on the bundled passages: WikiText-2 was not available.")
    if on_event:
        on_event({"event": "forgetting", "stage": "after", **out})
    return out


@dataclass
class Loaded:
    """The load phase's output: the classifier (LoRA-wrapped or not), its tokenizer and the model used."""

    clf: torch.nn.Module
    tokenizer: object
    resolved: ResolvedModel


@dataclass
class Datasets:
    """Tokenized once per run: train, eval, and the fixed slices scored at each evaluation."""

    train: TokenizedTweets
    eval: TokenizedTweets
    curves: dict


def load_model(config: FinetuneConfig, data: TweetData, record: RunRecord) -> Loaded:
    """Resolve the model, build a fresh classifier, start its head at the label words, wrap it in LoRA."""
    resolved = resolve_lm(config.model)
    if resolved.notice:
        record.notices.append(resolved.notice)
    record.resolved["resolved_model"] = resolved.name
    # Master weights fp32; bf16 comes from autocast on CUDA.
    clf, tokenizer = load_classifier(resolved, data.n_labels, data.label_names, dtype=torch.float32)
    if config.head_init == "label_words":
        init_head_from_label_words(clf, resolved, tokenizer, data.label_names)
    if config.mode == "lora":
        clf = apply_lora(clf, config)
    record.trainable_params, record.total_params = count_parameters(clf)
    return Loaded(clf, tokenizer, resolved)


def build_datasets(config: FinetuneConfig, data: TweetData, tokenizer, record: RunRecord) -> Datasets:
    t0 = time.perf_counter()
    train_ds = TokenizedTweets(tokenizer, data.train.texts, data.train.labels, config.max_length, config.input_template)
    eval_ds = TokenizedTweets(tokenizer, data.test.texts, data.test.labels, config.max_length, config.input_template)
    n_curve = min(len(eval_ds), config.curve_size or len(eval_ds))
    rng = np.random.RandomState(config.seed)
    curves = {"eval": torch.utils.data.Subset(eval_ds, by_length(eval_ds, rng.choice(len(eval_ds), n_curve, False)))}
    if config.train_slice:
        n = min(n_curve, len(train_ds))
        curves["train"] = torch.utils.data.Subset(train_ds, by_length(train_ds, rng.choice(len(train_ds), n, False)))
    record.timings["tokenize_seconds"] = round(time.perf_counter() - t0, 3)
    return Datasets(train_ds, eval_ds, curves)


def build_trainer(config: FinetuneConfig, model: Loaded, sets: Datasets, record: RunRecord, out_dir: Path,
                  emit, stop, world: int) -> tuple[Trainer, LiveEvents]:
    precision = current_precision(config.precision)
    apply_matmul_policy(precision)
    record.hardware["precision"] = precision.name
    on_cuda = precision.device == "cuda"
    args = _training_args(config, out_dir, len(sets.train), precision)
    live = LiveEvents(record, emit, stop, config.batch_size * config.grad_accum * world, config.patience,
                      keep_best=config.patience > 0, model=model.clf)
    pad_multiple = 16 if config.torch_compile else (8 if on_cuda else None)
    trainer = Trainer(model=model.clf, args=args, train_dataset=sets.train, eval_dataset=sets.curves,
                      data_collator=DataCollatorWithPadding(model.tokenizer, pad_to_multiple_of=pad_multiple),
                      processing_class=model.tokenizer, compute_metrics=trainer_metrics, callbacks=[live])
    trainer.remove_callback(PrinterCallback)  # events go through LiveEvents, not stdout
    return trainer, live


def train(trainer: Trainer, live: LiveEvents, config: FinetuneConfig, record: RunRecord, world: int) -> None:
    """Train; the best weights are restored when early stopping kept them; steps and speed recorded."""
    t0 = time.perf_counter()
    try:
        result = trainer.train()
    except torch.OutOfMemoryError:
        raise UserError(f"out of memory while training with batch size {config.batch_size} and max length "
                        f"{config.max_length}. Try a smaller batch size or max length (or LoRA).") from None
    train_seconds = time.perf_counter() - t0
    steps = trainer.state.global_step
    record.timings.update(train_seconds=round(train_seconds, 3), steps=steps)
    record.timings["tweets_per_second"] = round(steps * live.examples_per_step / max(train_seconds, 1e-9), 2)
    record.diagnostics["train_loss"] = round(float(result.training_loss), 5)
    restored = live.restore_best() if (live.stopped_early or config.patience) else False
    record.diagnostics["early_stopping"] = {"patience": config.patience, "stopped_early": live.stopped_early,
                                            "best_eval_loss": None if math.isinf(live.best_loss) else live.best_loss,
                                            "restored_best": restored}
    if world > 1:
        counts = [None] * world
        torch.distributed.all_gather_object(counts, steps * config.batch_size * config.grad_accum)
        record.diagnostics["distributed"] = {"world_size": world, "examples_per_rank": counts}


def evaluate(config: FinetuneConfig, data: TweetData, model: Loaded, sets: Datasets, record: RunRecord) -> None:
    """Score the whole eval split with the model as it stands."""
    t0 = time.perf_counter()
    model.clf.eval()
    logits = predict_logits(model.clf, sets.eval, model.tokenizer, config.eval_batch_size)
    seconds = time.perf_counter() - t0
    probs = torch.softmax(torch.from_numpy(logits), -1).numpy()
    finish_predictions(record, data.test.labels, probs, data.label_names, seconds)
    record.timings["eval_seconds"] = round(seconds, 3)


def diagnose(config: FinetuneConfig, data: TweetData, model: Loaded, record: RunRecord, live: LiveEvents,
             emit) -> None:
    """The fit verdict from the curves, and the forgetting probe (skipped after a Stop)."""
    record.diagnostics["fit"] = fit_verdict(record.history, data.majority_rate())
    if live.stopped_by_user:
        record.status = "stopped"
        record.notices.append(f"Stopped by the user at step {record.timings['steps']}; the model as it stood was "
                              "evaluated.")
    if config.forgetting_tokens and not live.stopped_by_user:
        t0 = time.perf_counter()
        record.diagnostics["forgetting"] = _forgetting(config, model.resolved, model.clf, model.tokenizer, record, emit)
        record.timings["forgetting_seconds"] = round(time.perf_counter() - t0, 3)


def run(config: FinetuneConfig, data: TweetData, *, on_event=None, stop: threading.Event | None = None,
        store: RunStore | None = None) -> RunRecord:
    """Fine-tune on data.train, evaluate on data.test; returns the finished RunRecord. Under torchrun
    every rank trains; rank 0 alone evaluates, diagnoses and writes the record."""
    if config.mode == "head":  # the frozen-feature probe: no Trainer, no weights of the LM change
        from .head import run as run_head

        return run_head(config, data, on_event=on_event, stop=stop, store=store)
    set_rank_device()  # under torchrun: this rank's GPU before anything touches CUDA
    rank, world = _distributed()
    store = store if rank == 0 else None
    emit = on_event if rank == 0 else None
    record = new_record("finetune", config, data)
    phase = (lambda stage, fraction=0.0: emit({"event": "phase", "stage": stage, "fraction": fraction})) if emit \
        else (lambda stage, fraction=0.0: None)
    with tracked(record, store, on_event=emit):
        phase("loading the model")
        # The new head and LoRA's A matrices are drawn from the global RNGs: seeded here, before they are built (the
        # Trainer seeds only once the model exists), so that a run's numbers follow from its seed, not from whatever
        # ran before it in this process (a Space serves many runs; a study runs many cells).
        set_seed(config.seed)
        model = load_model(config, data, record)
        if emit:
            emit({"event": "start", "run_id": record.run_id, "model": model.resolved.name, "mode": config.mode,
                  "trainable_params": record.trainable_params, "total_params": record.total_params,
                  "notices": list(record.notices)})
        phase(f"tokenising {len(data.train):,} train and {len(data.test):,} eval tweets")
        sets = build_datasets(config, data, model.tokenizer, record)
        out_dir = (store.run_dir(record.run_id) if store else Path(".")) / "trainer"
        phase("setting up the Trainer")
        trainer, live = build_trainer(config, model, sets, record, out_dir, emit, stop, world)
        train(trainer, live, config, record, world)
        if rank != 0:
            return record
        phase(f"scoring all {len(data.test):,} eval tweets", 1.0)
        evaluate(config, data, model, sets, record)
        diagnose(config, data, model, record, live, emit)
        if config.save_model and store is not None:
            from comparisons.ground.disk import model_bytes, save_model_folder

            from .saved import save_classifier

            save_model_folder(store, record, lambda folder: save_classifier(
                model.clf, model.tokenizer, folder, config.mode, config.input_template, config.max_length),
                model_bytes(model.clf, trainable_only=config.mode == "lora", tokenizer=model.tokenizer))
        if emit:
            emit({"event": "done", "accuracy": record.metrics["accuracy"], "macro_f1": record.metrics["macro_f1"]})
    return record
