"""Tiny random models of the real architectures (GPT-2, Llama), saved as local folders, for fast
offline unit tests. The tokenizer is a word-level one over a small vocabulary."""
from __future__ import annotations

import re
from pathlib import Path

CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")

WORDS = ("tweet sentiment negative neutral positive classify the of each as : , . ! ? a i my is so good bad "
         "love hate day happy sad great awful ok today going home work n/a [mask] mask very").split()


def make_tokenizer(folder: Path, extra_texts=()):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<unk>": 0, "<pad>": 1, "<|endoftext|>": 2, "<|im_start|>": 3, "<|im_end|>": 4, "\n": 5}
    for w in WORDS + [w for t in extra_texts for w in re.findall(r"\w+|[^\w\s]", t.lower())]:
        vocab.setdefault(w, len(vocab))
    tok = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.Split("\n", "isolated"),
                                                  pre_tokenizers.Whitespace()])
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, unk_token="<unk>", eos_token="<|endoftext|>",
                                   additional_special_tokens=["<|im_start|>", "<|im_end|>"])
    fast.save_pretrained(folder)
    return fast


def make_tiny(folder: Path, arch: str = "gpt2", extra_texts=(), chat: bool = False, seed: int = 0) -> Path:
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel, LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    tok = make_tokenizer(folder, extra_texts)
    if chat:
        tok.chat_template = CHATML
        tok.save_pretrained(folder)
    torch.manual_seed(seed)
    n = len(tok)
    if arch == "gpt2":
        cfg = GPT2Config(vocab_size=n, n_positions=256, n_embd=32, n_layer=2, n_head=2,
                         bos_token_id=2, eos_token_id=2)
        model = GPT2LMHeadModel(cfg)
    else:
        cfg = LlamaConfig(vocab_size=n, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                          num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=256,
                          bos_token_id=2, eos_token_id=2, tie_word_embeddings=True)
        model = LlamaForCausalLM(cfg)
    model.save_pretrained(folder, safe_serialization=True)
    return folder
