"""The project's exceptions.

    FerStreamError
    ├── InvalidFrame          a frame's image cannot be used (``reason`` says why)
    ├── SchemaError           a wire message does not match the schema
    ├── ModelError            the emotion model cannot be loaded or run
    ├── BrokerUnavailable     Redis cannot be reached
    ├── AccessDenied          Redis refused this process's user (password, or its ACL)
    ├── SourceError           a camera, file, stream or folder cannot be opened or read
    ├── ForeignJobRefused     a queued job names a function that is not the project's
    ├── DatasetError          training or evaluation data is missing or malformed
    └── PrivacyError          a privacy promise cannot be kept (a frames database on disk)

Every error carries a message that states what was expected and what arrived;
``describe`` words what arrived in at most ~100 characters, however large or deeply
nested it is (it often comes from a hostile producer).
``InvalidFrame.reason`` and ``SchemaError.reason`` are bounded labels used for counting.
"""

from __future__ import annotations

import reprlib

MAX_SHOWN = 80  # characters of a value shown in an error message


class _Brief(reprlib.Repr):
    """``reprlib``'s bounded repr (depth, items, lengths), bytes cut before their repr."""

    def __init__(self) -> None:
        super().__init__()
        self.maxlevel, self.maxstring, self.maxother = 3, 60, 60

    def repr_bytes(self, value: bytes, level: int) -> str:
        return repr(value[: self.maxstring]) + ("..." if len(value) > self.maxstring else "")


_BRIEF = _Brief()


def shorten(text: str) -> str:
    """``text`` cut to at most ``MAX_SHOWN`` characters."""
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def brief(value: object) -> str:
    """``repr(value)`` in at most ``MAX_SHOWN`` characters, without recursing into it."""
    return shorten(_BRIEF.repr(value))


def describe(value: object) -> str:
    """What arrived, for an error message: its type and a brief repr (bytes: their length)."""
    if isinstance(value, bytes | bytearray | memoryview):
        return f"{type(value).__name__} of length {len(value)}"
    return f"{type(value).__name__} {brief(value)}"


class FerStreamError(Exception):
    """Root of every error this project raises on purpose."""

    reason = "error"


class InvalidFrame(FerStreamError):
    """A frame's image bytes cannot be turned into pixels."""

    REASONS = frozenset({"decode", "truncated", "too_large", "empty"})

    def __init__(self, message: str, reason: str = "decode") -> None:
        if reason not in self.REASONS:
            raise ValueError(f"unknown InvalidFrame reason {reason!r}")
        super().__init__(message)
        self.reason = reason


class SchemaError(FerStreamError):
    """A wire message is not valid msgpack or does not match its schema."""

    reason = "schema"


class ModelError(FerStreamError):
    """The emotion model or face detector cannot be loaded or run."""

    reason = "model"


class BrokerUnavailable(FerStreamError):
    """Redis cannot be reached."""

    reason = "broker"


class AccessDenied(FerStreamError):
    """Redis refused this process's user: a wrong password, or a command its ACL forbids.

    The message names the user and what was refused, never a password.
    """

    reason = "access"


class SourceError(FerStreamError):
    """A frame source cannot be opened or read."""

    reason = "source"


class ForeignJobRefused(FerStreamError):
    """A job names a function outside the project's allow-list."""

    reason = "foreign_job"


class DatasetError(FerStreamError):
    """Training or evaluation data is missing or malformed."""

    reason = "dataset"


class PrivacyError(FerStreamError):
    """Strict privacy cannot be kept: e.g. the frames database persists to disk."""

    reason = "privacy"
