"""Opt-in thumbs up/down: an append-only JSONL log, and thumbs-down turned into candidate gold questions."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import uuid
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

FILENAME = "feedback.jsonl"


@dataclass(frozen=True)
class Vote:
    """One thumbs up or down on one reply, with what the patient asked and what they were shown."""

    question: str
    up: bool
    history: tuple[str, ...] = ()  # earlier user messages of the same chat, oldest first
    answerable: bool = True
    shown: tuple[str, ...] = ()  # chunk ids of the passages in the reply, best first
    id: str = field(default_factory=lambda: uuid.uuid4().hex)
    at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    kind: str = "vote"


@dataclass(frozen=True)
class Reason:
    """The optional words a patient adds to a vote (a separate line: the log is never rewritten)."""

    vote: str  # Vote.id
    text: str
    at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    kind: str = "reason"


@dataclass(frozen=True)
class Asked:
    """One question as asked, kept only when the maintainer turns on QA_LOG_QUESTIONS (questions.jsonl)."""

    question: str
    history: tuple[str, ...] = ()
    answerable: bool = True
    shown: tuple[str, ...] = ()
    reason: str = ""
    at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))
    kind: str = "question"


QUESTIONS_FILENAME = "questions.jsonl"


class FeedbackLog:
    """Append-only JSONL under the data folder; safe for several processes and threads clicking at once."""

    def __init__(self, path: Path) -> None:
        self.path = path

    @classmethod
    def in_dir(cls, data_dir: Path) -> FeedbackLog:
        return cls(data_dir / FILENAME)

    def append(self, record: Vote | Reason | Asked) -> None:
        """Write one record as one line: a single write() on an O_APPEND descriptor, under an exclusive lock.

        O_APPEND makes each write land at the current end of file, and the lock keeps a large line from being
        interleaved with another writer's, so concurrent clicks never lose or tear a line.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(asdict(record), ensure_ascii=False) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            view = memoryview(line)
            while view:  # a regular file takes the whole line at once; the loop is for interrupted writes
                view = view[os.write(fd, view):]
        finally:
            os.close(fd)  # closing releases the lock

    def read(self) -> list[dict[str, object]]:
        """Every complete record; a torn or garbled line (e.g. the last one after a crash) is skipped."""
        return list(read_records(self.path))


def read_records(path: Path) -> Iterator[dict[str, object]]:
    """The JSON objects of a JSONL file, skipping lines that do not parse (and nothing when it is missing)."""
    if not path.exists():
        return
    with path.open("rb") as f:
        for raw in f:
            try:
                record = json.loads(raw.decode("utf-8"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                continue
            if isinstance(record, dict):
                yield record


def candidate_id(question: str, history: Iterable[str]) -> str:
    """Stable id for a candidate gold question: the same question in the same context gets the same id."""
    digest = hashlib.sha1(json.dumps([question, list(history)]).encode("utf-8")).hexdigest()
    return f"feedback-{digest[:10]}"


def _strings(value: object) -> list[str]:
    """A record's list field as strings ([] when missing or not a list: the log is read, never trusted)."""
    return [str(v) for v in value] if isinstance(value, list) else []


def to_candidates(records: Iterable[dict[str, object]]) -> list[dict[str, object]]:
    """Thumbs-down votes as candidate gold questions in the eval format, for a person to review and complete.

    gold_spans stays empty and needs_review is true: a reviewer copies the answering sentences from the
    corpus (or sets answerable to false) before the line joins eval/questions.jsonl.
    """
    records = list(records)
    reasons: dict[str, list[str]] = {}
    for r in records:
        if r.get("kind") == "reason" and str(r.get("text", "")).strip():
            reasons.setdefault(str(r.get("vote")), []).append(str(r["text"]).strip())
    out: dict[str, dict[str, object]] = {}
    for r in records:
        if r.get("kind") != "vote" or r.get("up") or not str(r.get("question", "")).strip():
            continue
        question = str(r["question"]).strip()
        history = [str(h) for h in _strings(r.get("history"))]
        cid = candidate_id(question, history)
        row = out.setdefault(cid, {
            "id": cid, "question": question, "history": history, "gold_spans": [], "answerable": True,
            "page": None, "kind": "followup" if history else "plain", "split": "dev", "needs_review": True,
            "reasons": [], "shown": _strings(r.get("shown")),
        })
        row_reasons = row["reasons"]
        assert isinstance(row_reasons, list)  # built just above
        row_reasons += reasons.get(str(r.get("id")), [])
    return list(out.values())
