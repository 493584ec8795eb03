"""A face cut out of a camera frame must reach the model as the training loader gave it."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import pytest

from common.preprocessing import crop_faces, to_gray, to_model_batch
from tests.training import fer_files
from training.data import load_folder


@pytest.mark.parametrize("emotion", ["happy", "disgust", "surprise"])
@pytest.mark.parametrize("scale", [1, 2, 3])
@pytest.mark.parametrize("colour", [False, True])
def test_a_face_pasted_into_a_frame_crops_back_to_the_loaded_face(
    tmp_path: Path, emotion: str, scale: int, colour: bool
) -> None:
    file = fer_files("test", emotion, 1)[0]
    (tmp_path / emotion).mkdir()
    (tmp_path / emotion / file.name).write_bytes(file.read_bytes())
    loaded = load_folder(tmp_path).images[0]

    side = 48 * scale
    face = cv2.resize(loaded, (side, side), interpolation=cv2.INTER_NEAREST)
    frame = np.full((480, 640), 128, dtype=np.uint8)
    x, y = 201, 77
    frame[y : y + side, x : x + side] = face
    if colour:  # the worker decodes BGR frames, then takes the grey view
        frame = to_gray(np.asarray(cv2.cvtColor(frame, cv2.COLOR_GRAY2BGR), dtype=np.uint8))

    cropped = crop_faces(frame, [(x, y, side, side)], margin=0.0)
    assert cropped.shape == (1, 48, 48)
    difference = np.abs(cropped[0].astype(int) - loaded.astype(int))
    assert difference.max() <= 1
    np.testing.assert_array_equal(to_model_batch(cropped)[0, :, :, 0], cropped[0])
