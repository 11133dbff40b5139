"""Errors the CLI and the chat turn into one readable line."""

from __future__ import annotations


class QAError(Exception):
    """Base class: a problem the user can fix; the message says how."""


class ConfigError(QAError, ValueError):
    """A setting has a value outside what it accepts."""


class CorpusError(QAError):
    """The corpus folder is missing, empty or unreadable."""


class IndexNotFoundError(QAError):
    """No built index where one was expected."""


class IndexMismatchError(QAError):
    """The index on disk was built from another corpus, model or settings, or is damaged."""
