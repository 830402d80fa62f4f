"""The emulator's POST /chat answers: deterministic, drawn from the stored assistant's own text.

A real assistant answers from its prompt through an LLM; the emulator answers from the prompt
alone, so that a change of `system_instruction` or `first_message` changes what a conversation
test sees. The reply to a message is the `system_instruction` sentences that share the most
words with it (in prompt order, at most two), after `first_message` on the first turn. A message
sharing no word with the prompt gets the prompt's first sentence. Imports nothing from kathansync.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

MAX_SENTENCES = 2
# Words too common to say what a message is about; without this list "can I get a refund?"
# would match every sentence holding "a" or "I".
_STOPWORD_TEXT = """
a an and are as at be but by can could do does for from get got have how i if in is it its me my
no not of on or our please so that the their them then there this to us was we what when where
which who will with would you your yes ok okay hi hello
"""
_STOPWORDS = frozenset(_STOPWORD_TEXT.split())
_WORD = re.compile(r"[a-z0-9]+")
# A sentence ends at . ! or ? followed by space, or at a line break.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+|\n+")


def reply(assistant: Mapping[str, Any], text: str, first_turn: bool) -> str:
    """The assistant's answer to `text`: same assistant and text, same answer, every time."""
    sentences = _sentences(assistant.get("system_instruction"))
    answer = " ".join(_best(sentences, _words(text)))
    first_message = assistant.get("first_message")
    if first_turn and isinstance(first_message, str) and first_message.strip():
        answer = f"{first_message.strip()} {answer}".strip()
    return answer


def _sentences(instruction: Any) -> list[str]:
    if not isinstance(instruction, str):
        return []
    return [part.strip() for part in _SENTENCE_END.split(instruction) if part.strip()]


def _words(text: str) -> set[str]:
    """Content words, lower case, with a plural `s` dropped so "refunds" meets "refund"."""
    words = set()
    for word in _WORD.findall(text.lower()):
        if word in _STOPWORDS:
            continue
        words.add(word[:-1] if len(word) > 3 and word.endswith("s") else word)
    return words


def _best(sentences: list[str], asked: set[str]) -> list[str]:
    """The sentences sharing the most words with the message, in prompt order."""
    if not sentences:
        return []
    scores = [len(_words(sentence) & asked) for sentence in sentences]
    top = max(scores)
    if top == 0:
        return sentences[:1]
    return [s for s, score in zip(sentences, scores, strict=True) if score == top][:MAX_SENTENCES]
