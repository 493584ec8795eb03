"""The wire decoders on anything: a message or a ``SchemaError`` that says what was
expected, in a few lines, and never anything else (as a worker runs them: see
``ferstream.fuzz.targets.worker_stack``)."""

from __future__ import annotations

from hypothesis import given

from common.errors import SchemaError
from common.wire import Frame, Result
from ferstream.fuzz.messages import hostile_frames, hostile_results, valid_frames
from ferstream.fuzz.targets import DECODER_DEPTH, MAX_MESSAGE, worker_stack


def assert_says_what_was_expected(error: SchemaError) -> None:
    message = str(error)
    assert "expected" in message, message
    assert len(message) <= MAX_MESSAGE, f"{len(message)} characters: {message[:200]}..."


@given(hostile_frames())
def test_frame_decode_gives_a_frame_or_a_short_schema_error(data: bytes) -> None:
    with worker_stack(DECODER_DEPTH):
        try:
            frame = Frame.decode(data)
        except SchemaError as error:
            assert_says_what_was_expected(error)
            return
    assert Frame.decode(frame.encode()).encode() == frame.encode()  # it is a real frame


@given(hostile_results())
def test_result_decode_gives_a_result_or_a_short_schema_error(data: bytes) -> None:
    with worker_stack(DECODER_DEPTH):
        try:
            result = Result.decode(data)
        except SchemaError as error:
            assert_says_what_was_expected(error)
            return
    assert Result.decode(result.encode()) == result


@given(valid_frames())
def test_every_frame_a_producer_sends_decodes(data: bytes) -> None:
    assert Frame.decode(data).encode() == data
