"""What the fuzzers aim at, one input at a time: the wire decoders and the image decoder.

Each returns the input's ``Outcome``: ``ok``, or the exception it raised and whether that
is allowed. A decoder may raise only the project's error for its input (``SchemaError``
from a wire decoder, ``InvalidFrame`` from the image decoder), with a message that says
what was expected; anything else, a message over ``MAX_MESSAGE`` characters included,
is a finding.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from common.errors import FerStreamError, InvalidFrame, SchemaError, shorten
from common.wire import Frame, Result
from ferstream.fuzz.images import ClaimedImage
from worker.decoding import decode_gray

MAX_MESSAGE = 400  # characters of an error's message: it is logged and stored in Redis
RECURSION_LIMIT = 1000  # Python's default, which a worker process runs with
DECODER_DEPTH = 20  # frames under a worker's decoders (``python -m worker``, RQ, the batch)
# Image limits for the image target: small, so that the largest image that passes them
# decodes in milliseconds (the checks are the same for any limit).
MAX_IMAGE_BYTES = 1_000_000
MAX_IMAGE_PIXELS = 1_000_000


@dataclass(frozen=True)
class Outcome:
    """What one input did: ``label`` is ``ok`` or the exception's type."""

    label: str
    allowed: bool
    message: str = ""


def _stack_depth() -> int:
    frame, depth = sys._getframe(1), 0
    while frame is not None:
        frame, depth = frame.f_back, depth + 1  # type: ignore[assignment]
    return depth


@contextmanager
def worker_stack(depth: int) -> Iterator[None]:
    """The stack a worker has left ``depth`` frames deep, whoever raised the recursion
    limit here: Hypothesis raises it by 2000 around each example, which would hide a
    decoder that recurses as deep as its input nests (a RecursionError in a worker)."""
    limit = sys.getrecursionlimit()
    sys.setrecursionlimit(_stack_depth() + RECURSION_LIMIT - depth)
    try:
        yield
    finally:
        sys.setrecursionlimit(limit)


def outcome_of(call: Callable[[], object], allowed: type[FerStreamError]) -> Outcome:
    """Run ``call`` as a worker would; an ``allowed`` error with a short message saying
    what was expected is fine."""
    try:
        with worker_stack(DECODER_DEPTH):
            call()
    except allowed as exc:
        message, label = str(exc), type(exc).__name__
        if len(message) > MAX_MESSAGE:
            return Outcome(f"{label} over {MAX_MESSAGE} characters", False, shorten(message))
        if "expected" not in message:
            return Outcome(f"{label} not saying what was expected", False, shorten(message))
        return Outcome(label, True, shorten(message))
    except Exception as exc:  # the finding itself: anything else a decoder lets out
        return Outcome(type(exc).__name__, False, shorten(str(exc)))
    return Outcome("ok", True)


def decode_frame(data: bytes) -> Outcome:
    return outcome_of(lambda: Frame.decode(data), SchemaError)


def decode_result(data: bytes) -> Outcome:
    return outcome_of(lambda: Result.decode(data), SchemaError)


def decode_image(image: ClaimedImage) -> Outcome:
    """The worker's image decoder on a frame's image, as the frame claims it."""

    def decode() -> None:
        gray = decode_gray(
            image.data,
            image.encoding,
            MAX_IMAGE_BYTES,
            MAX_IMAGE_PIXELS,
            declared=(image.width, image.height),
        )
        if gray.shape != (image.height, image.width):  # what the worker relies on
            raise AssertionError(f"decoded {gray.shape}, declared {image.width}x{image.height}")

    return outcome_of(decode, InvalidFrame)
