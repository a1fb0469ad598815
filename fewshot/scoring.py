"""Label scoring: log P(label tokens | prompt) with batched forward passes, no free generation.

Every prompt is a (prefix, suffix) pair of token ids. Items that share a prefix (the same
demonstrations) encode it once and reuse its KV cache; only suffixes and label tokens are run per
item. The plain path runs prefix + suffix + label in full; both give the same numbers.

Rows are left-padded so that they all end in the same column: the LM head then runs on the last
few positions only (`logits_to_keep`), which on a 49k-token vocabulary is a large share of the work.
"""
from __future__ import annotations

import copy
from collections import defaultdict

import torch


@torch.no_grad()
def _forward(model, rows: list[list[int]], pad_id: int, keep: int, cache=None, prefix_len: int = 0) -> torch.Tensor:
    """Left-padded forward pass of `rows`, optionally after a cached prefix; log-probs of the last
    `keep` positions, [n_rows, keep, vocab]."""
    device = next(model.parameters()).device
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), prefix_len + width), dtype=torch.long)
    mask[:, :prefix_len] = 1
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, prefix_len + width - len(r):] = 1
    # Real tokens continue the prefix's positions; pads get any position (they are masked out).
    positions = (prefix_len + mask[:, prefix_len:].cumsum(-1) - 1).clamp_min(prefix_len)
    kwargs = {}
    if cache is not None:
        batch_cache = copy.deepcopy(cache)
        batch_cache.batch_repeat_interleave(len(rows))
        kwargs["past_key_values"] = batch_cache
    out = _call(model, keep, input_ids=ids.to(device), attention_mask=mask.to(device),
                position_ids=positions.to(device), use_cache=cache is not None, **kwargs)
    return torch.log_softmax(out.logits[:, -keep:].float(), dim=-1).cpu()


def _call(model, keep: int, **kwargs):
    """Forward with `logits_to_keep` where the architecture supports it (most causal LMs do)."""
    try:
        return model(logits_to_keep=keep, **kwargs)
    except TypeError:
        return model(**kwargs)


@torch.no_grad()
def _prefix_cache(model, prefix: list[int]):
    device = next(model.parameters()).device
    return _call(model, 1, input_ids=torch.tensor([prefix], device=device), use_cache=True).past_key_values


def label_logprobs(model, prompts: list[tuple[list[int], list[int]]], labels: list[list[int]], *, pad_id: int,
                   batch_size: int = 16, use_cache: bool = True, length_normalise: bool = False,
                   on_batch=None, stop=None) -> torch.Tensor:
    """Matrix [n_prompts, n_labels] of summed (or mean, if length_normalise) label-token log-probs."""
    n_labels = len(labels)
    single = all(len(l) == 1 for l in labels)
    result = torch.zeros(len(prompts), n_labels)
    groups: dict[tuple, list[int]] = defaultdict(list)
    for i, (prefix, _) in enumerate(prompts):
        groups[tuple(prefix) if use_cache else ()].append(i)
    done = 0
    for prefix, members in groups.items():
        cached = use_cache and bool(prefix)
        cache = _prefix_cache(model, list(prefix)) if cached else None
        # Rows: one per item when every label is one token (read the next-token distribution),
        # else one per (item, label) with the label's tokens but its last appended.
        jobs = [(i, None) for i in members] if single else [(i, j) for i in members for j in range(n_labels)]
        jobs.sort(key=lambda job: len(prompts[job[0]][1]))  # similar lengths batch with little padding
        for start in range(0, len(jobs), batch_size):
            if stop is not None and stop.is_set():
                return result[:0]
            chunk = jobs[start: start + batch_size]
            rows = []
            for i, j in chunk:
                pre, suf = prompts[i]
                body = list(suf) if cached else list(pre) + list(suf)
                rows.append(body if j is None else body + labels[j][:-1])
            keep = 1 if single else max(len(labels[j]) for _, j in chunk)
            logp = _forward(model, rows, pad_id, keep, cache, len(prefix) if cached else 0)
            for r, (i, j) in enumerate(chunk):
                if j is None:
                    result[i] = logp[r, -1, [l[0] for l in labels]]
                else:
                    toks = labels[j]
                    # The label's tokens are predicted at the row's last len(toks) positions.
                    total = logp[r, keep - len(toks):, :].gather(-1, torch.tensor(toks)[:, None]).sum()
                    result[i, j] = total / len(toks) if length_normalise else total
            done += len(chunk) if single else len({i for i, _ in chunk})
            if on_batch is not None:
                on_batch(min(done, len(prompts)))
    return result


def normalise(logprobs: torch.Tensor) -> torch.Tensor:
    """Label probabilities: the label log-probs renormalised over the label set."""
    return torch.softmax(logprobs, dim=-1)


def calibrate(probs: torch.Tensor, content_free: torch.Tensor) -> torch.Tensor:
    """Contextual calibration (Zhao et al. 2021): divide out the label bias estimated from
    content-free inputs, W = diag(p_cf)^-1, then renormalise. `content_free` is [n_labels] for a
    shared prompt or [n_prompts, n_labels] for per-item prompts."""
    cal = probs / content_free.clamp_min(1e-12)
    return cal / cal.sum(-1, keepdim=True)
