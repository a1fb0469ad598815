"""SetFit as a peer: contrastive fine-tuning of a small sentence encoder on pairs drawn from the labelled
tweets, then a logistic-regression head on its embeddings (Hugging Face's `setfit` library, its own Trainer).
The same selection and eval split as every other method; pair sampling seeded."""

from __future__ import annotations

import threading
import time

import numpy as np

from comparisons.ground.data import TweetData
from comparisons.ground.errors import UserError
from comparisons.ground.models import resolve_embedder
from comparisons.ground.runs import RunRecord, RunStore, finish_predictions, new_record, tracked

from .config import SetfitConfig


def _events(record: RunRecord, emit, stop, batch_size: int):
    """A transformers TrainerCallback (setfit's Trainer takes them) that streams steps and loss, and stops."""
    from transformers import TrainerCallback

    class Events(TrainerCallback):
        def __init__(self):
            self.t0 = time.perf_counter()
            self.stopped = False
            self.step = 0

        def on_log(self, args, state, control, logs=None, **kw):
            key = next((k for k in (logs or {}) if k.endswith("loss")), None)  # setfit logs "embedding_loss"
            if key is not None:
                event = {"event": "train", "step": state.global_step, "loss": round(float(logs[key]), 5),
                         "max_steps": state.max_steps, "epoch": round(state.epoch or 0, 3),
                         **self.speed(state)}
                record.history.append(event)
                emit(event)

        def on_step_end(self, args, state, control, **kw):
            self.step = state.global_step
            if stop is not None and stop.is_set():
                self.stopped = True
                control.should_training_stop = True
            elif state.global_step % 5 == 0:
                emit({"event": "train", "step": state.global_step, "max_steps": state.max_steps,
                      "epoch": round(state.epoch or 0, 3), **self.speed(state)})
            return control

        def speed(self, state) -> dict:
            elapsed = time.perf_counter() - self.t0
            done = max(1, state.global_step)
            return {"tweets_per_second": round(done * batch_size / max(elapsed, 1e-9), 2),
                    "eta_seconds": round(max(0.0, (state.max_steps - done) * elapsed / done), 1)}

    return Events()


def _check_sentence_encoder(resolved) -> None:
    """sentence-transformers would wrap any model in mean pooling; SetFit is meant for sentence encoders, so a
    local folder must be one (modules.json), and a causal LM is refused by name."""
    import json
    from pathlib import Path

    folder = Path(resolved.path)
    if not folder.is_dir() or (folder / "modules.json").exists():
        return
    archs = []
    if (folder / "config.json").exists():
        archs = json.loads((folder / "config.json").read_text()).get("architectures") or []
    kind = ", ".join(archs) or "no sentence-transformers modules.json"
    raise UserError(f"'{resolved.name}' is not a sentence encoder ({kind}); SetFit fine-tunes a sentence-transformers "
                    "model such as all-MiniLM-L6-v2 ('auto').")


def load_model(config: SetfitConfig, record: RunRecord, n_labels: int):
    from setfit import SetFitModel

    resolved = resolve_embedder(config.embedder)
    if resolved.notice:
        record.notices.append(resolved.notice)
    _check_sentence_encoder(resolved)
    record.resolved["resolved_embedder"] = resolved.name
    try:
        model = SetFitModel.from_pretrained(resolved.path, head_params={"C": config.head_C, "max_iter": 2000,
                                                                        "random_state": config.seed},
                                            trust_remote_code=False)
    except (OSError, ValueError) as e:
        raise UserError(f"'{resolved.name}' cannot be loaded as a sentence encoder for SetFit: "
                        f"{type(e).__name__}: {str(e).splitlines()[0][:200]}") from None
    if not hasattr(model.model_body, "encode"):
        raise UserError(f"'{resolved.name}' is not a sentence encoder (sentence-transformers); SetFit needs one.")
    return model


def run(config: SetfitConfig, data: TweetData, *, on_event=None, stop: threading.Event | None = None,
        store: RunStore | None = None) -> RunRecord:
    """Contrastive training of the encoder, the head on its embeddings, then the eval split."""
    from datasets import Dataset
    from setfit import Trainer, TrainingArguments

    record = new_record("setfit", config, data, precision="fp32")  # SetFit trains in fp32
    emit = on_event or (lambda e: None)
    with tracked(record, store, on_event=on_event):
        if len(set(data.train.labels)) < 2:
            raise UserError("SetFit needs train tweets of at least two labels to draw pairs from.")
        model = load_model(config, record, data.n_labels)
        record.trainable_params = sum(p.numel() for p in model.model_body.parameters())
        record.total_params = record.trainable_params
        emit({"event": "start", "run_id": record.run_id, "embedder": record.resolved["resolved_embedder"],
              "notices": list(record.notices)})
        out_dir = store.run_dir(record.run_id) / "setfit" if store else None
        args = TrainingArguments(output_dir=str(out_dir or "setfit-out"), batch_size=config.batch_size,
                                 max_steps=config.max_steps, body_learning_rate=config.body_learning_rate,
                                 num_iterations=config.num_iterations, max_length=config.max_length,
                                 seed=config.seed, report_to="none", save_strategy="no", eval_strategy="no",
                                 logging_steps=max(1, config.max_steps // 20), show_progress_bar=False)
        events = _events(record, emit, stop, config.batch_size)
        train_set = Dataset.from_dict({"text": list(data.train.texts), "label": list(data.train.labels)})
        trainer = Trainer(model=model, args=args, train_dataset=train_set, callbacks=[events])
        t0 = time.perf_counter()
        trainer.train()
        train_seconds = time.perf_counter() - t0
        record.timings.update(train_seconds=round(train_seconds, 3), steps=events.step,
                              tweets_per_second=round(events.step * config.batch_size / max(train_seconds, 1e-9), 2))
        if events.stopped:
            record.status = "stopped"
            record.notices.append("Stopped by the user; the encoder as it stood (with its head) was evaluated.")
        t0 = time.perf_counter()
        probs = np.zeros((len(data.test), data.n_labels))
        head = model.model_head
        probs[:, head.classes_] = np.asarray(model.predict_proba(list(data.test.texts), as_numpy=True))
        finish_predictions(record, data.test.labels, probs, data.label_names, time.perf_counter() - t0)
        if store is not None and not events.stopped:
            from comparisons.ground.disk import model_bytes, save_model_folder

            body = model.model_body
            save_model_folder(store, record, lambda folder: save(model, folder),
                              model_bytes(body, tokenizer=body.tokenizer))
        emit({"event": "done", "accuracy": record.metrics["accuracy"], "macro_f1": record.metrics["macro_f1"]})
    return record


def save(model, folder) -> str:
    """The encoder as safetensors (sentence-transformers' own format) and the logistic head as plain numbers
    in head.json: nothing pickled (setfit's own save_pretrained pickles the head)."""
    import json
    from pathlib import Path

    folder = Path(folder)
    model.model_body.save(str(folder), safe_serialization=True)
    head = model.model_head
    (folder / "head.json").write_text(json.dumps({"classes": head.classes_.tolist(), "coef": head.coef_.tolist(),
                                                  "intercept": head.intercept_.tolist()}))
    return str(folder)


def load_saved(folder):
    """(encoder, predict_proba) of a saved SetFit run: the encoder from safetensors, the head from head.json."""
    import json
    from pathlib import Path

    from comparisons.ground.models import ResolvedModel, load_embedder

    folder = Path(folder)
    head = json.loads((folder / "head.json").read_text())
    encoder = load_embedder(ResolvedModel(str(folder), str(folder), str(folder)))
    coef, intercept = np.asarray(head["coef"]), np.asarray(head["intercept"])
    classes = np.asarray(head["classes"])

    def predict_proba(texts, n_labels: int) -> np.ndarray:
        vectors = encoder.encode(list(texts), convert_to_numpy=True)
        scores = vectors @ coef.T + intercept
        if scores.shape[1] == 1:  # binary logistic regression keeps one row of coefficients
            scores = np.concatenate([-scores, scores], 1)
        scores = np.exp(scores - scores.max(1, keepdims=True))
        probs = np.zeros((len(vectors), n_labels))
        probs[:, classes] = scores / scores.sum(1, keepdims=True)
        return probs

    return encoder, predict_proba
