"""The worker's image checks and decoder on any image a frame could claim: pixels of the
declared size, or an ``InvalidFrame`` with a counted reason that says what was expected;
a header that lies about a huge size is refused from the header alone."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from common.errors import InvalidFrame
from ferstream.fuzz.images import ClaimedImage, hostile_images, lying_size, real_images
from ferstream.fuzz.targets import (
    DECODER_DEPTH,
    MAX_IMAGE_BYTES,
    MAX_IMAGE_PIXELS,
    MAX_MESSAGE,
    worker_stack,
)
from worker.decoding import check_limits, decode_gray, image_size


def decode(image: ClaimedImage) -> np.ndarray:
    with worker_stack(DECODER_DEPTH):
        return decode_gray(
            image.data,
            image.encoding,
            MAX_IMAGE_BYTES,
            MAX_IMAGE_PIXELS,
            declared=(image.width, image.height),
        )


@given(hostile_images())
def test_an_image_gives_its_declared_pixels_or_a_counted_refusal(image: ClaimedImage) -> None:
    try:
        gray = decode(image)
    except InvalidFrame as error:
        assert error.reason in InvalidFrame.REASONS
        assert "expected" in str(error) and len(str(error)) <= MAX_MESSAGE
        return
    assert gray.shape == (image.height, image.width)
    assert gray.dtype == np.uint8


@given(real_images())
def test_every_image_a_producer_sends_decodes(image: ClaimedImage) -> None:
    assert decode(image).shape == (image.height, image.width)


@given(real_images().flatmap(lying_size))
def test_a_header_claiming_too_many_pixels_is_refused_before_decoding(image: ClaimedImage) -> None:
    width, height = image_size(image.data, image.encoding)
    assume(width > 0 and height > 0 and width * height > MAX_IMAGE_PIXELS)
    try:
        check_limits(image.data, image.encoding, MAX_IMAGE_BYTES, MAX_IMAGE_PIXELS)
    except InvalidFrame as error:
        assert error.reason == "too_large"
        assert f"got {width}x{height}" in str(error)
    else:
        raise AssertionError(f"a {width}x{height} header passed the checks")


@given(real_images(), st.data())
def test_an_image_cut_before_its_end_is_refused(image: ClaimedImage, data: st.DataObject) -> None:
    cut = data.draw(st.integers(0, len(image.data) - 1), label="cut at")
    with pytest.raises(InvalidFrame) as caught:
        decode(replace(image, data=image.data[:cut]))
    assert caught.value.reason in {"truncated", "decode", "empty"}
