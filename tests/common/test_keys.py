from __future__ import annotations

from collections.abc import Callable

import pytest

from common.keys import cameras_set, results_channel, results_stream


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        (lambda: results_channel("ferstream", "cam-1"), "ferstream:results:cam-1"),
        (lambda: results_stream("ferstream", "cam-1"), "ferstream:stream:cam-1"),
        (lambda: cameras_set("ferstream"), "ferstream:cameras"),
        (lambda: results_channel("fs-test", "lobby.2"), "fs-test:results:lobby.2"),
    ],
)
def test_key_names(name: Callable[[], str], expected: str) -> None:
    assert name() == expected


def test_channel_and_stream_differ() -> None:
    assert results_channel("p", "c") != results_stream("p", "c")
