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
def _forward(model, rows: list[list[int]], pad_id: int, keep: int, cache=None, prefix_mask=None) -> torch.Tensor:
    """Left-padded forward pass of `rows`, optionally after cached prefixes (`prefix_mask`: one row
    per row, 1 on real prefix tokens). Log-probs of the last `keep` positions, [n_rows, keep, vocab]."""
    device = next(model.parameters()).device
    width = max(len(r) for r in rows)
    ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, r in enumerate(rows):
        ids[i, width - len(r):] = torch.tensor(r)
        mask[i, width - len(r):] = 1
    start = (
        prefix_mask.sum(1, keepdim=True) if prefix_mask is not None else torch.zeros((len(rows), 1), dtype=torch.long)
    )
    # Real tokens continue their own prefix's positions; pads get any position (they are masked out).
    positions = (start + mask.cumsum(-1) - 1).clamp_min(0)
    full_mask = torch.cat([prefix_mask, mask], 1) if prefix_mask is not None else mask
    out = _call(
        model,
        keep,
        fp32_head=True,
        input_ids=ids.to(device),
        attention_mask=full_mask.to(device),
        position_ids=positions.to(device),
        use_cache=cache is not None,
        **({"past_key_values": cache} if cache is not None else {}),
    )
    return torch.log_softmax(out.logits[:, -keep:].float(), dim=-1).cpu()


def _call(model, keep: int, fp32_head: bool = False, **kwargs):
    """Forward with `logits_to_keep` where the architecture supports it (most causal LMs do). With
    `fp32_head`, a half-precision model's LM head runs in fp32 on its last (normed) hidden states, so label
    scores are not rounded to bf16/fp16 before they are compared (comparisons.ground.device: scores in fp32)."""
    half = fp32_head and next(model.parameters()).dtype != torch.float32
    extra = {"output_hidden_states": True} if half else {}
    try:
        out = model(logits_to_keep=keep, **kwargs, **extra)
    except TypeError:
        out = model(**kwargs, **extra)
    if half:
        head = model.get_output_embeddings()
        hidden = out.hidden_states[-1][:, -keep:].float()
        bias = None if getattr(head, "bias", None) is None else head.bias.float()
        out.logits = torch.nn.functional.linear(hidden, head.weight.float(), bias)
    return out


@torch.no_grad()
def _prefix_cache(model, prefixes: list[tuple]):
    """KV cache of several prefixes at once (left-padded), and their masks."""
    device = next(model.parameters()).device
    width = max(len(p) for p in prefixes)
    ids = torch.zeros((len(prefixes), width), dtype=torch.long)
    mask = torch.zeros((len(prefixes), width), dtype=torch.long)
    for i, p in enumerate(prefixes):
        ids[i, width - len(p) :] = torch.tensor(p)
        mask[i, width - len(p) :] = 1
    positions = (mask.cumsum(-1) - 1).clamp_min(0)
    out = _call(
        model,
        1,
        input_ids=ids.to(device),
        attention_mask=mask.to(device),
        position_ids=positions.to(device),
        use_cache=True,
    )
    return out.past_key_values, mask


def _packs(groups: list[tuple[tuple, list]], batch_size: int):
    """Pack groups (prefix, jobs) into forward passes of about `batch_size` rows: a large group is
    split across passes (its prefix repeated from one cache), small groups share a pass."""
    pack, rows = [], 0
    for prefix, jobs in groups:
        for start in range(0, len(jobs), batch_size):
            part = jobs[start : start + batch_size]
            if pack and rows + len(part) > batch_size:
                yield pack
                pack, rows = [], 0
            pack.append((prefix, part))
            rows += len(part)
    if pack:
        yield pack


def hoist_common(prompts: list[tuple[list[int], list[int]]]) -> list[tuple[list[int], list[int]]]:
    """Move the tokens that every suffix under one shared prefix starts with (`Tweet:` in the plain
    template, `<|im_start|>user` in a chat template) into that prefix. Each prompt's token sequence is
    unchanged; those tokens are then encoded once per prefix instead of once per item. Every suffix
    keeps at least one token, the position its label is read from."""
    members: dict[tuple, list[int]] = defaultdict(list)
    for i, (prefix, _) in enumerate(prompts):
        if prefix:
            members[tuple(prefix)].append(i)
    out = [(list(p), list(s)) for p, s in prompts]
    for prefix, items in members.items():
        if len(items) < 2:
            continue
        suffixes = [prompts[i][1] for i in items]
        first, limit, common = suffixes[0], min(len(s) for s in suffixes) - 1, 0
        while common < limit and all(s[common] == first[common] for s in suffixes):
            common += 1
        for i in items:
            out[i] = (list(prefix) + list(first[:common]), list(prompts[i][1][common:]))
    return out


def label_logprobs(
    model,
    prompts: list[tuple[list[int], list[int]]],
    labels: list[list[int]],
    *,
    pad_id: int,
    batch_size: int = 16,
    use_cache: bool = True,
    length_normalise: bool = False,
    on_batch=None,
    stop=None,
) -> torch.Tensor:
    """Matrix [n_prompts, n_labels] of summed (or mean, if length_normalise) label-token log-probs."""
    n_labels = len(labels)
    if use_cache:
        prompts = hoist_common(prompts)
    single = all(len(l) == 1 for l in labels)
    result = torch.zeros(len(prompts), n_labels)
    by_prefix: dict[tuple, list] = defaultdict(list)
    for i, (prefix, _) in enumerate(prompts):
        key = tuple(prefix) if use_cache else ()
        # Rows: one per item when every label is one token (read the next-token distribution),
        # else one per (item, label) with the label's tokens but its last appended.
        by_prefix[key] += [(i, None)] if single else [(i, j) for j in range(n_labels)]
    groups = sorted(by_prefix.items(), key=lambda g: len(g[0]))  # similar prefix lengths pad little
    for _, jobs in groups:
        jobs.sort(key=lambda job: len(prompts[job[0]][1]))
    done = 0
    cache_of: dict[tuple, tuple] = {}
    for pack in _packs(groups, batch_size):
        if stop is not None and stop.is_set():
            return result[:0]
        cached = use_cache and all(prefix for prefix, _ in pack)
        rows, owners, keys = [], [], []
        for prefix, part in pack:
            for i, j in part:
                pre, suf = prompts[i]
                body = list(suf) if cached else list(pre) + list(suf)
                rows.append(body if j is None else body + labels[j][:-1])
                owners.append((i, j))
                keys.append(prefix)
        cache, prefix_mask = None, None
        if cached:
            distinct = list(dict.fromkeys(keys))
            if len(distinct) == 1 and distinct[0] in cache_of:  # a large group's later passes
                base, base_mask = cache_of[distinct[0]]
            else:
                base, base_mask = _prefix_cache(model, distinct)
                cache_of = {distinct[0]: (base, base_mask)} if len(distinct) == 1 else {}
            index = torch.tensor([distinct.index(k) for k in keys])
            cache = copy.deepcopy(base)
            cache.batch_select_indices(index)
            prefix_mask = base_mask[index]
        keep = 1 if single else max(len(labels[j]) for _, j in owners)
        logp = _forward(model, rows, pad_id, keep, cache, prefix_mask)
        for r, (i, j) in enumerate(owners):
            if j is None:
                result[i] = logp[r, -1, [l[0] for l in labels]]
            else:
                toks = labels[j]
                # The label's tokens are predicted at the row's last len(toks) positions.
                total = logp[r, keep - len(toks) :, :].gather(-1, torch.tensor(toks)[:, None]).sum()
                result[i, j] = total / len(toks) if length_normalise else total
        done += len({i for i, _ in owners})
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


def batch_prior(probs: torch.Tensor) -> torch.Tensor:
    """Batch calibration's label bias (Zhou et al. 2024, "Batch Calibration"): the mean label
    distribution the model predicts over a batch of real, unlabelled inputs. Needs no extra prompts."""
    return probs.mean(0)


def every_calibration(probs: torch.Tensor, content_free: torch.Tensor) -> dict[str, torch.Tensor]:
    """The label probabilities under no calibration and each of fewshot.config.CALIBRATIONS, from one scoring pass:
    `probs` [n, labels] uncalibrated, `content_free` [n, labels] each item's content-free distribution.
    `both` is contextual, then batch on the result, as `FewshotClassifier.score` applies it (a test
    holds the two to the same numbers)."""
    ctx = calibrate(probs, content_free)
    return {
        "none": probs,
        "contextual": ctx,
        "batch": calibrate(probs, batch_prior(probs)),
        "both": calibrate(ctx, batch_prior(ctx)),
    }
