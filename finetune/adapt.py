"""Domain-adaptive pretraining, live ("Don't Stop Pretraining", Gururangan et al. 2020): continue causal-LM
training of the chosen model on unlabelled in-domain text — the task's own train tweets with their labels ignored
(TAPT), or a corpus file (DAPT) — packed into blocks, with the Trainer, LoRA (merged before saving) or full.

Before and after, two perplexities: on held-out in-domain text (the eval tweets for TAPT, a held-out slice of the
corpus for DAPT) and on general English (the forgetting probe's WikiText). The saved model (safetensors) is a
starting point for fine-tuning and few-shot: model `run:<id>`."""
from __future__ import annotations

import json
import math
import threading
import time
from pathlib import Path

import numpy as np
import torch
from transformers import PrinterCallback, Trainer, TrainingArguments, default_data_collator

from comparisons.ground.data import FORMATS, TweetData, _decode, read_table
from comparisons.ground.device import apply_matmul_policy, current_precision, distributed_env
from comparisons.ground.errors import check
from comparisons.ground.models import load_tokenizer_for, resolve_lm
from comparisons.ground.runs import RunRecord, RunStore, new_record, tracked

from .adapt_config import AdaptConfig
from .diagnostics import body_of, general_text, memoised_perplexity, perplexity, token_windows
from .events import LiveEvents
from .train import _lora_targets

PERPLEXITY_WINDOW = 128


def read_corpus(path: str, column: str = "text") -> list[str]:
    """Unlabelled texts from a file: .txt (one text per line) or a table with `column`. Bad files are UserErrors."""
    p = Path(path).expanduser()
    check(p.is_file(), f"corpus file not found: {path}")
    check(p.stat().st_size > 0, f"corpus {p.name} is empty.")
    if p.suffix.lower() in (".txt", ".text", ""):
        texts = [line.strip() for line in _decode(p.read_bytes(), p.name).splitlines()]
    else:
        check(p.suffix.lower() in FORMATS,
              f"corpus {p.name}: use .txt (one text per line) or one of {', '.join(FORMATS)}.")
        frame = read_table(p)
        check(column in frame.columns, f"corpus {p.name}: no column '{column}'. Columns found: "
                                       f"{', '.join(map(str, frame.columns))}. Name it with --corpus-column.")
        texts = [str(t).strip() for t in frame[column].tolist() if isinstance(t, str)]
    texts = [t for t in texts if t]
    check(texts, f"corpus {p.name} holds only whitespace: no text to learn from.")
    return texts


def corpus_of(config: AdaptConfig, data: TweetData) -> tuple[list[str], list[str], str]:
    """(texts to train on, held-out in-domain texts for perplexity, where they came from)."""
    rng = np.random.RandomState(config.seed)
    if not config.corpus:
        texts = list(data.train.texts)
        if config.max_texts and len(texts) > config.max_texts:
            texts = [texts[i] for i in sorted(rng.choice(len(texts), config.max_texts, replace=False))]
        origin = f"TAPT: {len(texts)} train tweets, labels ignored; held out: the eval tweets"
        return texts, list(data.test.texts), origin
    texts = read_corpus(config.corpus, config.corpus_column)
    order = rng.permutation(len(texts))
    n_held = max(1, int(round(len(texts) * config.heldout_share)))
    check(len(texts) > n_held, f"corpus {Path(config.corpus).name} has {len(texts)} texts: too few to hold "
                               f"{config.heldout_share:.0%} out.")
    held, train = [texts[i] for i in order[:n_held]], [texts[i] for i in order[n_held:]]
    if config.max_texts and len(train) > config.max_texts:
        train = train[: config.max_texts]
    return train, held, f"DAPT: {len(train)} texts of {Path(config.corpus).name}; held out: {len(held)}"


def pack(tokenizer, texts, block_size: int, budget: int | None = None, shrink: bool = False) -> torch.Tensor:
    """Token blocks of `block_size`: every text followed by the end-of-text token, concatenated, cut into blocks
    (the remainder dropped), at most `budget` tokens. `shrink`: a text shorter than one block is one block."""
    eos = tokenizer.eos_token_id
    ids: list[int] = []
    for enc in tokenizer(list(texts), add_special_tokens=False)["input_ids"]:
        ids.extend(enc + ([eos] if eos is not None else []))
        if budget and len(ids) >= budget:
            break
    ids = ids[:budget] if budget else ids
    if shrink and 1 < len(ids) < block_size:
        block_size = len(ids)
    n = len(ids) // block_size
    check(n > 0, f"the corpus is {len(ids)} tokens, shorter than one block of {block_size}: give more text or a "
                 "smaller block size.")
    return torch.tensor(ids[: n * block_size], dtype=torch.long).view(n, block_size)


class Blocks(torch.utils.data.Dataset):
    def __init__(self, blocks: torch.Tensor):
        self.blocks = blocks

    def __len__(self):
        return len(self.blocks)

    def __getitem__(self, i):
        return {"input_ids": self.blocks[i], "labels": self.blocks[i]}


def _perplexities(model, tokenizer, heldout, general, config, stage: str, emit, base_path: str | None) -> dict:
    """In-domain and general-English perplexity of `model` (its own LM head)."""
    if not config.perplexity_tokens:
        return {}
    model.eval()
    head, body = model.get_output_embeddings(), body_of(model)
    domain = pack(tokenizer, heldout, PERPLEXITY_WINDOW, config.perplexity_tokens, shrink=True)
    wiki = token_windows(tokenizer, general, config.perplexity_tokens, PERPLEXITY_WINDOW)
    compute = lambda w: perplexity(body, head, w)  # noqa: E731
    if base_path:  # the base model's figures depend only on its weights and the windows: memoised on disk
        device = head.weight.device
        out = {"domain": memoised_perplexity(base_path, domain, head.weight.dtype, device.type,
                                             lambda: compute(domain))[0],
               "general": memoised_perplexity(base_path, wiki, head.weight.dtype, device.type,
                                              lambda: compute(wiki))[0]}
    else:
        out = {"domain": compute(domain), "general": compute(wiki)}
    out = {k: round(v, 3) for k, v in out.items()}
    if emit:
        emit({"event": "perplexity", "stage": stage, **out})
    return out


def verdict(before: dict, after: dict, domain_name: str = "tweets") -> str:
    """e.g. "tweets: 48.1 → 31.7 (−34 %); WikiText: 28.1 → 30.9 (+10 %): the model now speaks tweet, at a cost in
    general English"."""
    if not before or not after:
        return "perplexities not measured (perplexity_tokens is 0)"
    d = after["domain"] / before["domain"] - 1
    g = after["general"] / before["general"] - 1
    head = (f"{domain_name}: {before['domain']:.1f} → {after['domain']:.1f} ({100 * d:+.0f} %); general English: "
            f"{before['general']:.1f} → {after['general']:.1f} ({100 * g:+.0f} %)")
    if d >= -0.01:
        return f"{head}: no gain in-domain — more text or steps, or a larger learning rate"
    if g > 0.01:
        return f"{head}: the model now speaks {domain_name}, at a cost in general English"
    return f"{head}: the model now speaks {domain_name} and kept its general English"


def run(config: AdaptConfig, data: TweetData, *, on_event=None, stop: threading.Event | None = None,
        store: RunStore | None = None) -> RunRecord:
    from peft import LoraConfig, TaskType, get_peft_model
    from transformers import AutoModelForCausalLM, set_seed

    train_texts, heldout, origin = corpus_of(config, data)  # a bad corpus stops here: no record, no model
    rank, _, world = distributed_env()  # under torchrun every rank trains its share; rank 0 alone records
    store, on_event = (store, on_event) if rank == 0 else (None, None)
    record = new_record("adapt", config, data)
    with tracked(record, store, on_event=on_event):
        resolved = resolve_lm(config.model)
        if resolved.notice:
            record.notices.append(resolved.notice)
        record.resolved["resolved_model"] = resolved.name
        tokenizer = load_tokenizer_for(resolved)
        blocks = pack(tokenizer, train_texts, config.block_size)
        general, general_origin = general_text("")
        precision = current_precision(config.precision)
        apply_matmul_policy(precision)
        record.hardware["precision"] = precision.name
        model = AutoModelForCausalLM.from_pretrained(resolved.path, dtype=torch.float32, trust_remote_code=False)
        model.to(precision.device)
        if on_event:
            on_event({"event": "start", "run_id": record.run_id, "model": resolved.name, "mode": config.mode,
                      "corpus": origin, "blocks": len(blocks), "notices": list(record.notices)})
        t0 = time.perf_counter()
        before = _perplexities(model, tokenizer, heldout, general, config, "before", on_event,
                               resolved.path if Path(resolved.path).is_dir() else None)
        before_seconds = time.perf_counter() - t0
        if config.mode == "lora":
            set_seed(config.seed)  # LoRA's A matrices from the run's seed, not from what ran before in this process
            model = get_peft_model(model, LoraConfig(
                task_type=TaskType.CAUSAL_LM, r=config.lora_r, lora_alpha=config.lora_alpha, lora_dropout=0.05,
                target_modules=_lora_targets(model, config),
                fan_in_fan_out=getattr(model.config, "model_type", "") == "gpt2"))
        record.trainable_params = int(sum(p.numel() for p in model.parameters() if p.requires_grad))
        record.total_params = int(sum(p.numel() for p in model.parameters()))
        steps = max(1, math.ceil(len(blocks) / (config.batch_size * world) * config.epochs))  # a step: every rank's
        out_dir = (store.run_dir(record.run_id) if store else Path(".")) / "trainer"
        args = TrainingArguments(
            output_dir=str(out_dir), max_steps=steps, learning_rate=config.lr,
            per_device_train_batch_size=config.batch_size,
            warmup_steps=int(0.1 * steps), lr_scheduler_type="linear", logging_steps=max(1, min(10, steps // 10)),
            save_strategy="no", eval_strategy="no", report_to="none", seed=config.seed, disable_tqdm=True,
            **precision.trainer_flags, use_cpu=precision.device != "cuda", remove_unused_columns=False,
            dataloader_num_workers=0)
        live = LiveEvents(record, on_event, stop, config.batch_size * world, 0, keep_best=False, model=model)
        trainer = Trainer(model=model, args=args, train_dataset=Blocks(blocks), data_collator=default_data_collator,
                          callbacks=[live])
        trainer.remove_callback(PrinterCallback)
        t1 = time.perf_counter()
        result = trainer.train()
        train_seconds = time.perf_counter() - t1
        record.timings.update(train_seconds=round(train_seconds, 3), steps=trainer.state.global_step,
                              tokens_per_second=round(trainer.state.global_step * config.batch_size * world
                                                      * config.block_size / max(train_seconds, 1e-9), 1),
                              perplexity_before_seconds=round(before_seconds, 3))
        record.diagnostics["train_loss"] = round(float(result.training_loss), 5)
        if world > 1:
            record.diagnostics["distributed"] = {"world_size": world, "blocks_per_rank": math.ceil(len(blocks) / world)}
        if config.mode == "lora":
            model = model.merge_and_unload()
        if live.stopped_by_user:
            record.status = "stopped"
            record.notices.append(f"Stopped by the user at step {trainer.state.global_step} of {steps}.")
        after = _perplexities(model, tokenizer, heldout, general, config, "after", on_event, None)
        domain_name = "tweets" if not config.corpus else "the corpus"
        record.diagnostics["adaptation"] = {
            "corpus": origin, "blocks": len(blocks), "block_size": config.block_size, "general_text": general_origin,
            "perplexity_tokens": config.perplexity_tokens, "before": before, "after": after,
            "verdict": verdict(before, after, domain_name)}
        if config.save_model and store is not None and not live.stopped_by_user:
            from comparisons.ground.disk import model_bytes, save_model_folder

            def write(folder):
                model.save_pretrained(folder, safe_serialization=True)
                tokenizer.save_pretrained(folder)
                (folder / "tpr_adapted.json").write_text(json.dumps(
                    {"base_model": resolved.name, "mode": config.mode, **record.diagnostics["adaptation"]}, indent=1))

            save_model_folder(store, record, write, model_bytes(model, tokenizer=tokenizer))
        if on_event:
            on_event({"event": "done", "verdict": record.diagnostics["adaptation"]["verdict"]})
    return record
