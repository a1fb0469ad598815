"""Fine-tuning speed: the seed recipe against the project's path, same architecture, same tweets,
same machine, one run.

Seed recipe: Trainer, every tweet padded to 1,024 tokens, batch 1, gradient accumulation 4, fp32.
Project path: finetune.run (tokenize once, dynamic padding, length-grouped batches; bf16 and fused
AdamW on CUDA).

CPU: a small GPT-2 config (2 layers, 128 wide) with GPT-2's real tokenizer. GPU: GPT2Config() (124M,
random init). Both random-initialised: speed does not depend on the weights.

    python bench/finetune_speed.py [--tweets N] [--seed-tweets N] [--out bench/out/finetune_speed.json]
"""
from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import torch  # noqa: E402

from bench.common import save, stamp  # noqa: E402
from comparisons.ground.data import load_data, subset  # noqa: E402
from comparisons.ground.models import gpt2_tokenizer_from_files  # noqa: E402
from comparisons.ground.runs import PeakMemory  # noqa: E402
from comparisons.ground.settings import settings  # noqa: E402

SHARED = settings().shared_data.parent  # TPR_SHARED_DATA moves it


def make_model_dir(on_cuda: bool) -> str:
    from transformers import GPT2Config, GPT2LMHeadModel

    tok_dir = SHARED / "models" / "gpt2-tokenizer"
    tok = gpt2_tokenizer_from_files(tok_dir)
    cfg = GPT2Config() if on_cuda else GPT2Config(n_layer=2, n_embd=128, n_head=4)
    cfg.pad_token_id = tok.eos_token_id
    folder = Path(tempfile.mkdtemp(prefix="bench-gpt2-"))
    torch.manual_seed(0)
    GPT2LMHeadModel(cfg).save_pretrained(folder)
    tok.save_pretrained(folder)
    return str(folder), cfg


def seed_recipe(model_dir, data, on_cuda, warmup_steps: int = 0) -> dict:
    """The tutorial's recipe, as written: pad to max_length=1024, batch 1, accumulation 4, fp32. With
    `warmup_steps`, tweets/s counts only the steps after them (CUDA's first steps pay its start-up)."""
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        Trainer,
        TrainerCallback,
        TrainingArguments,
    )

    class AfterWarmup(TrainerCallback):
        started = None

        def on_step_end(self, args, state, control, **kwargs):
            if state.global_step == warmup_steps and AfterWarmup.started is None:
                if on_cuda:
                    import torch

                    torch.cuda.synchronize()
                AfterWarmup.started = time.perf_counter()

    tok = AutoTokenizer.from_pretrained(model_dir)
    tok.pad_token = tok.eos_token
    model = AutoModelForSequenceClassification.from_pretrained(model_dir, num_labels=3)
    model.config.pad_token_id = tok.eos_token_id
    enc = tok(list(data.train.texts), padding="max_length", truncation=True, max_length=1024)
    rows = [{"input_ids": i, "attention_mask": a, "labels": l}
            for i, a, l in zip(enc["input_ids"], enc["attention_mask"], data.train.labels)]
    args = TrainingArguments(
        output_dir=tempfile.mkdtemp(),
        per_device_train_batch_size=1,
        gradient_accumulation_steps=4,
        num_train_epochs=1,
        learning_rate=5e-5,
        report_to="none",
        save_strategy="no",
        logging_steps=1000,
        disable_tqdm=True,
        use_cpu=not on_cuda,
        seed=42,
    )
    trainer = Trainer(model=model, args=args, train_dataset=rows, callbacks=[AfterWarmup()] if warmup_steps else None)
    with PeakMemory() as mem:
        t0 = time.perf_counter()
        trainer.train()
        if on_cuda:
            import torch

            torch.cuda.synchronize()
        t_end = time.perf_counter()
        seconds = t_end - t0
    warmed = bool(warmup_steps and AfterWarmup.started)
    timed = len(rows) - warmup_steps * 4 if warmed else len(rows)
    timed_seconds = t_end - AfterWarmup.started if warmed else seconds
    return {
        "tweets": len(rows),
        "seconds": round(seconds, 2),
        "warmup_steps": warmup_steps,
        "tweets_per_second": round(timed / timed_seconds, 2),
        **mem.result(),
    }


def project_path(model_dir, data, on_cuda, batch_size) -> dict:
    from finetune import FinetuneConfig
    from finetune.train import run

    cfg = FinetuneConfig(
        model=model_dir,
        mode="full",
        epochs=1,
        batch_size=batch_size,
        eval_batch_size=256,
        forgetting_tokens=0,
        save_model=False,
        train_slice=False,
        n_evals=1,
        curve_size=64,
        head_init="random",
        input_template="{text}",
    )
    with PeakMemory() as mem:
        record = run(cfg, data)
    return {
        "tweets": len(data.train),
        "seconds": record.timings["train_seconds"],
        "tweets_per_second": record.timings["tweets_per_second"],
        "batch_size": batch_size,
        **mem.result(),
    }


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--tweets", type=int, default=2048, help="tweets the project path trains on")
    p.add_argument("--seed-tweets", type=int, default=96, help="tweets the seed recipe trains on (it is slow)")
    p.add_argument("--batch-size", type=int, default=0, help="project batch size (0: 64 CPU, 1024 GPU)")
    p.add_argument("--out", default=str(ROOT / "bench" / "out" / "finetune_speed.json"))
    a = p.parse_args()
    on_cuda = torch.cuda.is_available()
    tweets = load_data(str(SHARED / "data" / "tweet_sentiment_extraction"))
    model_dir, cfg = make_model_dir(on_cuda)
    ours_data = subset(tweets, a.tweets, 64, seed=42)
    seed_data = subset(tweets, a.seed_tweets, 64, seed=42)
    seed = seed_recipe(model_dir, seed_data, on_cuda)
    ours = project_path(model_dir, ours_data, on_cuda, a.batch_size or (1024 if on_cuda else 64))
    result = stamp(
        device=torch.cuda.get_device_name(0) if on_cuda else "cpu",
        model=f"GPT-2 n_layer={cfg.n_layer} n_embd={cfg.n_embd} (random init)",
        seed_recipe=seed,
        project=ours,
        speedup=round(ours["tweets_per_second"] / seed["tweets_per_second"], 1),
    )
    save(result, a.out)


if __name__ == "__main__":
    main()
