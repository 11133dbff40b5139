"""Follow-up questions: decide whether earlier turns should shape the search query (pure functions)."""

from __future__ import annotations

import re

from qa.lexical import words

_PRONOUN = re.compile(r"\b(it|its|it's|that|this|these|those|they|them|their|he|she|his|her|one|ones|same)\b", re.I)
_LEAD = re.compile(
    r"^\s*(and|also|so|but|then|what about|how about|and what|and how|what else|anything else|"
    r"is that|is it|are they|does that|does it|do they|will it|will that|can it|can they|how long does|"
    r"how often|why|ok|okay)\b",
    re.I,
)
# words that carry no topic of their own in a follow-up ("what are its side effects?" names no drug)
_GENERIC = frozenset(
    """side effects effect common serious long last lasts take takes taken long often work works
    much many given give used use help helps safe risks risk happen happens start starts done
    same different else more mean means normal bad worse better usually""".split()
)


def is_follow_up(question: str) -> bool:
    """True for short or pronoun-led questions that lean on the previous turn for their topic."""
    topical = [w for w in words(question) if w not in _GENERIC]
    if len(topical) == 0:
        return True
    if _LEAD.search(question) and len(topical) <= 3:
        return True
    return bool(_PRONOUN.search(question)) and len(topical) <= 2


def contextualize(question: str, history: list[str] | tuple[str, ...] | None = None) -> str:
    """The text to search for: the question, preceded by the topic of the chat when it is a follow-up.

    history holds the earlier user messages, oldest first. A follow-up borrows the (itself resolved)
    previous question; a question that names its own topic is searched as it is.
    """
    history = [h for h in (history or []) if h and h.strip()]
    if not history or not is_follow_up(question):
        return question
    previous = contextualize(history[-1], history[:-1])
    return f"{previous} {question}"
