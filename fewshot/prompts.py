"""Prompts: a plain `Tweet:`/`Sentiment:` text format for base models, the model's chat template for
instruct models. A prompt is returned as (prefix ids, suffix ids): the prefix is what items share
(instruction, and the demonstrations when every item has the same ones), so its KV cache is reused."""
from __future__ import annotations

from dataclasses import dataclass

from comparisons.ground.errors import UserError
from comparisons.ground.templates import check_template, prefix_before, render

DEFAULT_INSTRUCTION = "Classify the sentiment of each tweet as {labels}."
DEFAULT_EXAMPLE = "Tweet: {text}\nSentiment: {label}"
MAX_TEXT_CHARS = 1000  # a tweet longer than this is cut before it enters a prompt
CONTENT_FREE = ("N/A", "", "[MASK]")


@dataclass
class Prompt:
    prefix: list[int]
    suffix: list[int]
    dropped: int  # demonstrations dropped from the front to fit the context window
    n_demos: int

    def ids(self) -> list[int]:
        return self.prefix + self.suffix


def _clean(text: str) -> str:
    return " ".join(text.split())[:MAX_TEXT_CHARS]


class PromptBuilder:
    def __init__(self, tokenizer, template: str, label_words: list[str], max_tokens: int,
                 instruction: str = DEFAULT_INSTRUCTION, example_format: str = DEFAULT_EXAMPLE):
        has_chat = bool(getattr(tokenizer, "chat_template", None))
        if template == "auto":
            template = "chat" if has_chat else "plain"
        if template == "chat" and not has_chat:
            raise UserError("this model has no chat template; use the plain template.")
        check_template(example_format, "the example format", allowed=("text", "label"), required=("text", "label"))
        check_template(instruction, "the instruction", allowed=("labels",))
        if not example_format.rstrip().endswith("{label}"):
            raise UserError("the example format must end with {label}: the label is what the model predicts.")
        self.tok, self.template, self.words, self.max_tokens = tokenizer, template, label_words, max_tokens
        self.instruction = render(instruction, labels=", ".join(label_words))
        self.example_format = example_format
        # The label continues the prompt: after "Sentiment:" with a space; in chat, as the reply.
        self.label_ids = [self._ids((" " if template == "plain" else "") + w) for w in label_words]
        if any(not ids for ids in self.label_ids):
            raise UserError("a label word is empty; give one word or phrase per label.")

    def _ids(self, text: str) -> list[int]:
        return self.tok(text, add_special_tokens=False)["input_ids"] if text else []

    # ---- text of the parts
    def parts(self, demos, query, share_demos: bool = False) -> tuple[str, str]:
        """(prefix, suffix) text. The prefix is what items share: the instruction, and the
        demonstrations too when every item has the same ones."""
        if self.template == "plain":
            head = self.instruction + "\n\n"
            shots = "".join(render(self.example_format, text=_clean(t), label=self.words[l]) + "\n\n" for t, l in demos)
            ask = render(prefix_before(self.example_format, "label"), text=_clean(query)).rstrip()
            return (head + shots, ask) if share_demos else (head, shots + ask)
        msgs = [{"role": "system", "content": self.instruction}]
        for t, l in demos:
            msgs += [{"role": "user", "content": _clean(t)}, {"role": "assistant", "content": self.words[l]}]
        full = self.tok.apply_chat_template(msgs + [{"role": "user", "content": _clean(query)}],
                                            tokenize=False, add_generation_prompt=True)
        cut = self.tok.apply_chat_template(msgs if share_demos else msgs[:1], tokenize=False)
        if not full.startswith(cut):
            cut = ""
        return cut, full[len(cut):]

    def text(self, demos, query) -> str:
        return "".join(self.parts(demos, query))

    def build(self, demos: list[tuple[str, int]], query: str, share_demos: bool) -> Prompt:
        """Token ids of the prompt, dropping demonstrations from the front until it fits."""
        longest_label = max(len(l) for l in self.label_ids)
        dropped = 0
        while True:
            prefix_text, suffix_text = self.parts(demos[dropped:], query, share_demos)
            prefix, suffix = self._ids(prefix_text), self._ids(suffix_text)
            if len(prefix) + len(suffix) + longest_label <= self.max_tokens or dropped >= len(demos):
                break
            dropped += 1
        room = self.max_tokens - len(prefix) - longest_label
        if len(suffix) > room:  # even with no demonstrations the query is too long: keep its end
            suffix = suffix[-max(1, room):]
        return Prompt(prefix, suffix, dropped, len(demos) - dropped)
