"""The Trainer callback that streams a run as it goes: step, loss, learning rate, speed and ETA, and at
each evaluation the eval and train-slice metrics, into the record's history and `on_event`. It also
honours Stop after each optimizer step, keeps the best weights and stops early after `patience` worse
evaluations: transformers' own hook, not a home-made event system."""

from __future__ import annotations

import math
import threading
import time

import torch
from transformers import TrainerCallback

from comparisons.ground.runs import RunRecord

PROGRESS_SECONDS = 1.0  # how often the page hears of the step between the Trainer's logs


class LiveEvents(TrainerCallback):
    """Streams step/loss/lr/speed/ETA and, at each evaluation, eval and train-slice metrics into
    the record's history and `on_event`; honours `stop` after each optimizer step; keeps the best
    weights (lowest eval loss) and stops early after `patience` worse evaluations."""

    def __init__(self, record: RunRecord, on_event, stop: threading.Event | None, examples_per_step: int,
                 patience: int, keep_best: bool, model):
        self.record, self.on_event, self.stop = record, on_event, stop
        self.examples_per_step, self.patience, self.keep_best = examples_per_step, patience, keep_best
        self.model = model
        self.t0 = self.last_progress = time.perf_counter()
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
        self.t0 = self.last_progress = time.perf_counter()
        if self.on_event is not None:
            self.on_event({"event": "phase", "stage": f"training: step 0 of {state.max_steps}", "fraction": 0.0})

    def _progress(self, state, control) -> None:
        """A light event for the page at most every PROGRESS_SECONDS (not kept in the record): step n of N with the
        measured rate and the revised ETA, and when an evaluation on the curve slice begins."""
        now = time.perf_counter()
        if self.on_event is None:
            return
        if control.should_evaluate:
            self.on_event({"event": "phase", "stage": f"step {state.global_step} of {state.max_steps}: evaluating "
                                                      "on the curve slices", "fraction": state.global_step / max(
                                                          1, state.max_steps)})
            self.last_progress = now
        elif now - self.last_progress >= PROGRESS_SECONDS or state.global_step == 1:
            self.on_event({"event": "step", "step": state.global_step, "epoch": round(state.epoch or 0, 3),
                           **self._speed(state)})
            self.last_progress = now

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
        self._progress(state, control)
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
        if "eval_loss" not in self.pending or (
            self.record.config.get("train_slice") and "train_loss" not in self.pending
        ):
            return control
        event = {
            "event": "eval",
            "step": state.global_step,
            "epoch": round(state.epoch or 0, 3),
            **{k: round(v, 5) for k, v in self.pending.items()},
            **self._speed(state),
        }
        self.pending = {}
        self._emit(event)
        if event["eval_loss"] < self.best_loss:
            self.best_loss, self.worse = event["eval_loss"], 0
            if self.keep_best:
                self.best_state = {
                    n: p.detach().to("cpu", copy=True) for n, p in self.model.named_parameters() if p.requires_grad
                }
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
