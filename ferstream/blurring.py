"""Hiding faces in annotated outputs: each face's box blurred or pixelated, so no face
can be recovered from it, before its box and label are drawn on top.

The hidden region is the detected box grown by ``HIDE_MARGIN`` of its side on each
side (Haar boxes cut off the forehead, chin and ears). ``blur`` is a Gaussian blur with
a sigma of ``BLUR_SIGMA_SHARE`` of the region's longer side; ``pixelate`` averages the
region into ``PIXEL_BLOCKS`` blocks across. Both were chosen against OpenCV's frontal
Haar cascades set to find all they can (``tests/ferstream/test_blurring.py``), on 35
synthetic scenes whose face they found unhidden: they found none after a blur of sigma
0.15 or 0.2 of the side (6 of 35 at 0.1), none after pixelating to 5 or 6 blocks (4 of
11 at 8 blocks).
"""

from __future__ import annotations

from collections.abc import Iterable

import cv2
import numpy as np
import numpy.typing as npt

from common.settings import BLUR_MODES

HIDE_MARGIN = 0.15
BLUR_SIGMA_SHARE = 0.2
PIXEL_BLOCKS = 5

Image = npt.NDArray[np.uint8]
BoxTuple = tuple[int, int, int, int]  # x, y, w, h in the image's pixels


def hide_faces(image: Image, boxes: Iterable[BoxTuple], mode: str) -> None:
    """Blur or pixelate each box of ``image`` in place (``mode`` ``off``: nothing)."""
    if mode not in BLUR_MODES:
        raise ValueError(f"expected a blur mode in {BLUR_MODES}, got {mode!r}")
    if mode == "off":
        return
    for box in boxes:
        x0, y0, x1, y1 = hidden_region(box, image.shape[1], image.shape[0])
        if x1 <= x0 or y1 <= y0:
            continue
        region = image[y0:y1, x0:x1]
        region[...] = _blurred(region) if mode == "blur" else _pixelated(region)


def hidden_region(box: BoxTuple, width: int, height: int) -> BoxTuple:
    """The box grown by ``HIDE_MARGIN`` per side, within the image: (x0, y0, x1, y1)."""
    x, y, w, h = box
    grow_x, grow_y = round(w * HIDE_MARGIN), round(h * HIDE_MARGIN)
    return (
        max(0, x - grow_x),
        max(0, y - grow_y),
        min(width, x + w + grow_x),
        min(height, y + h + grow_y),
    )


def _blurred(region: Image) -> Image:
    sigma = max(region.shape[:2]) * BLUR_SIGMA_SHARE
    blurred = cv2.GaussianBlur(region, (0, 0), sigmaX=sigma, borderType=cv2.BORDER_REPLICATE)
    return np.asarray(blurred, dtype=np.uint8)


def _pixelated(region: Image) -> Image:
    height, width = region.shape[:2]
    blocks_x = max(1, min(PIXEL_BLOCKS, width))
    blocks_y = max(1, round(blocks_x * height / width))
    small = cv2.resize(region, (blocks_x, blocks_y), interpolation=cv2.INTER_AREA)
    pixelated = cv2.resize(small, (width, height), interpolation=cv2.INTER_NEAREST)
    return np.asarray(pixelated, dtype=np.uint8)
