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
from pathlib import Path

import numpy as np
import torch
from transformers import DataCollatorWithPadding, PrinterCallback, Trainer, TrainerCallback, TrainingArguments

from comparisons.data import TweetData
from comparisons.errors import UserError
from comparisons.metrics import classification_metrics
from comparisons.models import count_parameters, device_name, load_causal_lm, load_classifier, resolve_lm
from comparisons.runs import RunRecord, RunStore, new_record, tracked

from .config import FinetuneConfig
from .diagnostics import body_of, fit_verdict, general_text, memoised_perplexity, perplexity, token_windows

# peft's defaults per architecture (GPT-2's attention is one Conv1D named c_attn).
LORA_TARGETS = {"gpt2": ["c_attn"], "llama": ["q_proj", "k_proj", "v_proj", "o_proj"]}


class TokenizedTweets(torch.utils.data.Dataset):
    """Tokenized once per run; items are plain dicts that DataCollatorWithPadding pads per batch."""

    def __init__(self, tokenizer, texts, labels, max_length: int, template: str = "{text}"):
        texts = [template.replace("{text}", " ".join(t.split())) for t in texts]
        tokenizer.truncation_side = "left"  # a long tweet keeps its end, where the template asks for the label
        enc = tokenizer(texts, truncation=True, max_length=max_length, add_special_tokens=False)
        self.input_ids = enc["input_ids"]
        self.labels = list(labels)

    def __len__(self):
        return len(self.labels)

    def __getitem__(self, i):
        return {"input_ids": self.input_ids[i], "labels": self.labels[i]}

    def lengths(self):
        return [len(x) for x in self.input_ids]


class LiveEvents(TrainerCallback):
    """Streams step/loss/lr/speed/ETA and, at each evaluation, eval and train-slice metrics into
    the record's history and `on_event`; honours `stop` after each optimizer step; keeps the best
    weights (lowest eval loss) and stops early after `patience` worse evaluations."""

    def __init__(self, record: RunRecord, on_event, stop: threading.Event | None, examples_per_step: int,
                 patience: int, keep_best: bool, model):
        self.record, self.on_event, self.stop = record, on_event, stop
        self.examples_per_step, self.patience, self.keep_best = examples_per_step, patience, keep_best
        self.model = model
        self.t0 = time.perf_counter()
        self.pending: dict = {}
        self.last_train_loss = None
        self.best_loss, self.best_state, self.worse = math.inf, None, 0
        self.stopped_by_user = self.stopped_early = False

    def _emit(self, event: dict):
        self.record.history.append(event)
        if self.on_event is not None:
            self.on_event(event)

    def _speed(self, state) -> dict:
        elapsed = time.perf_counter() - self.t0
        done = max(1, state.global_step)
        rate = done * self.examples_per_step / max(elapsed, 1e-9)
        eta = (state.max_steps - done) * elapsed / done
        return {"tweets_per_second": round(rate, 2), "eta_seconds": round(max(0.0, eta), 1),
                "elapsed_seconds": round(elapsed, 1), "max_steps": state.max_steps}

    def on_train_begin(self, args, state, control, **kw):
        self.t0 = time.perf_counter()

    def on_step_end(self, args, state, control, **kw):
        # The Trainer also evaluates at the last step; skip it when the previous evaluation was
        # recent (the full eval split is scored after training anyway).
        last_eval = max((h["step"] for h in self.record.history if h["event"] == "eval"), default=0)
        if (control.should_evaluate and state.global_step == state.max_steps and args.eval_steps
                and state.global_step % args.eval_steps and state.global_step - last_eval < args.eval_steps / 2):
            control.should_evaluate = False
        if self.stop is not None and self.stop.is_set():
            self.stopped_by_user = True
            control.should_training_stop = True
        return control

    def on_log(self, args, state, control, logs=None, **kw):
        if logs and "loss" in logs:
            self.last_train_loss = float(logs["loss"])
            self._emit({"event": "train", "step": state.global_step, "epoch": round(state.epoch or 0, 3),
                        "loss": round(float(logs["loss"]), 5), "learning_rate": float(logs.get("learning_rate", 0)),
                        **self._speed(state)})

    def on_evaluate(self, args, state, control, metrics=None, **kw):
        metrics = metrics or {}
        for key, value in metrics.items():
            for split in ("eval", "train"):
                prefix = f"eval_{split}_"
                if key.startswith(prefix) and key[len(prefix):] in ("loss", "accuracy"):
                    self.pending[f"{split}_{key[len(prefix):]}"] = float(value)
        if "eval_loss" not in self.pending or (self.record.config.get("train_slice") and "train_loss" not in self.pending):
            return control
        event = {"event": "eval", "step": state.global_step, "epoch": round(state.epoch or 0, 3),
                 **{k: round(v, 5) for k, v in self.pending.items()}, **self._speed(state)}
        self.pending = {}
        self._emit(event)
        if event["eval_loss"] < self.best_loss:
            self.best_loss, self.worse = event["eval_loss"], 0
            if self.keep_best:
                self.best_state = {n: p.detach().to("cpu", copy=True) for n, p in self.model.named_parameters()
                                   if p.requires_grad}
        else:
            self.worse += 1
            if self.patience and self.worse >= self.patience:
                self.stopped_early = True
                control.should_training_stop = True
        return control

    def restore_best(self) -> bool:
        if self.best_state is None:
            return False
        params = dict(self.model.named_parameters())
        with torch.no_grad():
            for n, value in self.best_state.items():
                params[n].copy_(value.to(params[n].device))
        return True


def init_head_from_label_words(clf, resolved, tokenizer, label_names) -> None:
    """Start the classification head as the LM head's rows for each label's first token, so that
    at step 0 the classifier scores labels exactly as zero-shot prompting would."""
    lm, _ = load_causal_lm(resolved)
    rows = lm.get_output_embeddings().weight
    ids = [tokenizer(" " + name, add_special_tokens=False)["input_ids"][0] for name in label_names]
    head = clf.score if hasattr(clf, "score") else None
    if head is None or head.weight.shape != (len(ids), rows.shape[1]):
        return  # an architecture with another head: keep its random init
    with torch.no_grad():
        head.weight.copy_(rows[ids].to(head.weight.dtype).to(head.weight.device))


def _accuracy_metrics(eval_pred):
    logits, labels = eval_pred
    logits = logits[0] if isinstance(logits, tuple) else logits
    return {"accuracy": float((np.argmax(logits, -1) == labels).mean())}


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
    if torch.distributed.is_available() and torch.distributed.is_initialized():
        return torch.distributed.get_rank(), torch.distributed.get_world_size()
    import os

    return int(os.environ.get("RANK", 0)), int(os.environ.get("WORLD_SIZE", 1))


def _training_args(config: FinetuneConfig, out_dir: Path, n_train: int, on_cuda: bool) -> TrainingArguments:
    steps_per_epoch = math.ceil(n_train / (config.batch_size * config.grad_accum * _distributed()[1]))
    max_steps = max(1, math.ceil(steps_per_epoch * config.epochs))
    eval_steps = config.eval_steps or max(1, max_steps // config.n_evals)
    return TrainingArguments(
        output_dir=str(out_dir), max_steps=max_steps, learning_rate=config.lr,
        per_device_train_batch_size=config.batch_size, per_device_eval_batch_size=config.eval_batch_size,
        gradient_accumulation_steps=config.grad_accum, weight_decay=config.weight_decay,
        warmup_steps=int(config.warmup_ratio * max_steps), lr_scheduler_type="linear",
        eval_strategy="steps", eval_steps=eval_steps, logging_steps=max(1, min(eval_steps, 10)),
        save_strategy="no", report_to="none", seed=config.seed, disable_tqdm=True,
        bf16=on_cuda and config.bf16, optim="adamw_torch_fused" if on_cuda else "adamw_torch",
        train_sampling_strategy="group_by_length", torch_compile=config.torch_compile,
        dataloader_pin_memory=on_cuda, use_cpu=not on_cuda, remove_unused_columns=False,
        ddp_find_unused_parameters=False,
    )


def _forgetting(config, resolved, clf, tokenizer, record, on_event) -> dict:
    """Perplexity on general English of the base LM, then of the fine-tuned body under the base
    LM's own head. LoRA: with the adapter merged, and disabled (which must equal the base)."""
    text, origin = general_text(config.forgetting_text)
    base_lm, _ = load_causal_lm(resolved)
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


def predict_logits(model, dataset: TokenizedTweets, tokenizer, batch_size: int = 64) -> np.ndarray:
    """Logits for a tokenized split, batched in length order (fast) and returned in input order."""
    collate = DataCollatorWithPadding(tokenizer)
    device = next(model.parameters()).device
    order = np.argsort(dataset.lengths(), kind="stable")
    out = np.zeros((len(dataset), model.config.num_labels), dtype=np.float32)
    model.eval()
    with torch.no_grad():
        for i in range(0, len(order), batch_size):
            idx = order[i: i + batch_size]
            batch = collate([{"input_ids": dataset.input_ids[j]} for j in idx])
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
            out[idx] = logits.float().cpu().numpy()
    return out


def run(config: FinetuneConfig, data: TweetData, *, on_event=None, stop: threading.Event | None = None,
        store: RunStore | None = None) -> RunRecord:
    """Fine-tune on data.train, evaluate on data.test; returns the finished RunRecord."""
    rank, world = _distributed()
    store = store if rank == 0 else None
    emit = on_event if rank == 0 else None
    record = new_record("finetune", config, data)
    with tracked(record, store, on_event=emit):
        resolved = resolve_lm(config.model)
        if resolved.notice:
            record.notices.append(resolved.notice)
        record.config["resolved_model"] = resolved.name
        on_cuda = device_name() == "cuda"
        dtype = torch.float32  # master weights fp32; bf16 comes from autocast on CUDA
        clf, tokenizer = load_classifier(resolved, data.n_labels, data.label_names, dtype=dtype)
        if config.head_init == "label_words":
            init_head_from_label_words(clf, resolved, tokenizer, data.label_names)
        if config.mode == "lora":
            clf = apply_lora(clf, config)
        record.trainable_params, record.total_params = count_parameters(clf)
        if emit:
            emit({"event": "start", "run_id": record.run_id, "model": resolved.name, "mode": config.mode,
                  "trainable_params": record.trainable_params, "total_params": record.total_params,
                  "notices": list(record.notices)})

        t0 = time.perf_counter()
        train_ds = TokenizedTweets(tokenizer, data.train.texts, data.train.labels, config.max_length, config.input_template)
        eval_ds = TokenizedTweets(tokenizer, data.test.texts, data.test.labels, config.max_length, config.input_template)
        n_curve = min(len(eval_ds), config.curve_size or len(eval_ds))
        rng = np.random.RandomState(config.seed)
        eval_sets = {"eval": torch.utils.data.Subset(eval_ds, sorted(rng.choice(len(eval_ds), n_curve, replace=False)))}
        if config.train_slice:
            n = min(n_curve, len(train_ds))
            eval_sets["train"] = torch.utils.data.Subset(train_ds, sorted(rng.choice(len(train_ds), n, replace=False)))
        record.timings["tokenize_seconds"] = round(time.perf_counter() - t0, 3)

        out_dir = (store.run_dir(record.run_id) if store else Path(".")) / "trainer"
        args = _training_args(config, out_dir, len(train_ds), on_cuda)
        examples_per_step = config.batch_size * config.grad_accum * world
        live = LiveEvents(record, emit, stop, examples_per_step, config.patience,
                          keep_best=config.patience > 0, model=clf)
        pad_multiple = 16 if config.torch_compile else (8 if on_cuda else None)
        trainer = Trainer(model=clf, args=args, train_dataset=train_ds, eval_dataset=eval_sets,
                          data_collator=DataCollatorWithPadding(tokenizer, pad_to_multiple_of=pad_multiple),
                          processing_class=tokenizer, compute_metrics=_accuracy_metrics, callbacks=[live])
        trainer.remove_callback(PrinterCallback)  # events go through LiveEvents, not stdout
        t0 = time.perf_counter()
        try:
            result = trainer.train()
        except torch.OutOfMemoryError:
            raise UserError(f"out of memory while training with batch size {config.batch_size} and max length "
                            f"{config.max_length}. Try a smaller batch size or max length (or LoRA).") from None
        train_seconds = time.perf_counter() - t0
        steps = trainer.state.global_step
        record.timings.update(train_seconds=round(train_seconds, 3), steps=steps)
        record.timings["tweets_per_second"] = round(steps * examples_per_step / max(train_seconds, 1e-9), 2)
        record.diagnostics["train_loss"] = round(float(result.training_loss), 5)
        restored = live.restore_best() if (live.stopped_early or config.patience) else False
        record.diagnostics["early_stopping"] = {"patience": config.patience, "stopped_early": live.stopped_early,
                                                "best_eval_loss": None if math.isinf(live.best_loss) else live.best_loss,
                                                "restored_best": restored}
        if world > 1:
            counts = [None] * world
            torch.distributed.all_gather_object(counts, steps * config.batch_size * config.grad_accum)
            record.diagnostics["distributed"] = {"world_size": world, "examples_per_rank": counts}
        if rank != 0:
            return record

        t0 = time.perf_counter()
        clf.eval()
        logits = predict_logits(clf, eval_ds, tokenizer, config.eval_batch_size)
        eval_seconds = time.perf_counter() - t0
        probs = torch.softmax(torch.from_numpy(logits), -1).numpy()
        y_pred = probs.argmax(-1)
        record.metrics = classification_metrics(data.test.labels, y_pred, data.label_names)
        record.predictions = {"y_true": list(data.test.labels), "y_pred": y_pred.tolist(),
                              "probs": np.round(probs, 4).tolist()}
        record.timings.update(eval_seconds=round(eval_seconds, 3),
                              inference_tweets_per_second=round(len(eval_ds) / max(eval_seconds, 1e-9), 2))
        record.diagnostics["fit"] = fit_verdict(record.history, data.majority_rate())
        if live.stopped_by_user:
            record.status = "stopped"
            record.notices.append(f"Stopped by the user at step {steps}; the model as it stood was evaluated.")
        if config.forgetting_tokens and not live.stopped_by_user:
            t0 = time.perf_counter()
            record.diagnostics["forgetting"] = _forgetting(config, resolved, clf, tokenizer, record, emit)
            record.timings["forgetting_seconds"] = round(time.perf_counter() - t0, 3)
        if config.save_model and store is not None:
            from .saved import save_classifier

            record.artifacts["model_dir"] = str(save_classifier(clf, tokenizer, store.run_dir(record.run_id) / "model",
                                                                config.mode, config.input_template, config.max_length))
        if emit:
            emit({"event": "done", "accuracy": record.metrics["accuracy"], "macro_f1": record.metrics["macro_f1"]})
    return record
