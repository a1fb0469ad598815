"""Tokenized splits and batched prediction: what training (finetune.train) and a saved classifier (finetune.saved)
both use, kept apart so that neither imports the other."""
from __future__ import annotations

import numpy as np
import torch
from transformers import DataCollatorWithPadding

from comparisons.ground.templates import render


class TokenizedTweets(torch.utils.data.Dataset):
    """Tokenized once per run; items are plain dicts that DataCollatorWithPadding pads per batch."""

    def __init__(self, tokenizer, texts, labels, max_length: int, template: str = "{text}"):
        texts = [render(template, text=" ".join(t.split())) for t in texts]
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


def by_length(dataset: TokenizedTweets, indices) -> list[int]:
    """Rows in length order (ties by index), for batches padded as little as possible: predict_logits scores a split
    so, and a curve slice is handed to the Trainer so (it evaluates in the order given, each batch padded to its
    longest row; a random order padded most batches to the slice's longest tweet, about twice the mean). The rows and
    their numbers are the same; only the padding goes (on two CPU cores no time change could be measured:
    bench/RESULTS.md "Evaluation batches on a CPU")."""
    lengths = dataset.lengths()
    return sorted((int(i) for i in indices), key=lambda i: (lengths[i], i))


def predict_logits(model, dataset: TokenizedTweets, tokenizer, batch_size: int = 64) -> np.ndarray:
    """Logits for a tokenized split, batched in length order (fast) and returned in input order."""
    collate = DataCollatorWithPadding(tokenizer)
    device = next(model.parameters()).device
    order = np.asarray(by_length(dataset, range(len(dataset))), dtype=int)
    out = np.zeros((len(dataset), model.config.num_labels), dtype=np.float32)
    model.eval()
    with torch.no_grad():
        for i in range(0, len(order), batch_size):
            idx = order[i: i + batch_size]
            batch = collate([{"input_ids": dataset.input_ids[j]} for j in idx])
            logits = model(**{k: v.to(device) for k, v in batch.items()}).logits
            out[idx] = logits.float().cpu().numpy()
    return out
