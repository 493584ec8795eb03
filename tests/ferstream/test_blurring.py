"""Blurred and pixelated faces in annotated outputs: no face left to find, label drawn.

Synthetic scenes of real FER2013 faces: OpenCV's Haar cascades, set to find all they can
(scale 1.05, two neighbours), find the face inside its region of the original scene,
and find nothing in the same region once ``annotate`` has hidden it.
"""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from common.wire import EMOTIONS, Box, FaceResult, Result, StageTimings
from ferstream.analyze import COLOURS, annotate
from ferstream.blurring import hidden_region, hide_faces
from producer.scenes import SceneGenerator

SCENES = 20
CASCADES = ("haarcascade_frontalface_default.xml", "haarcascade_frontalface_alt2.xml")


def faces_in(image: npt.NDArray[np.uint8], region: tuple[int, int, int, int]) -> int:
    """Faces any of OpenCV's frontal cascades finds in ``region`` of ``image``."""
    x0, y0, x1, y1 = region
    gray = cv2.cvtColor(image[y0:y1, x0:x1], cv2.COLOR_BGR2GRAY)
    found = 0
    for name in CASCADES:
        cascade = cv2.CascadeClassifier(cv2.data.haarcascades + name)  # type: ignore[attr-defined]
        found += len(cascade.detectMultiScale(gray, scaleFactor=1.05, minNeighbors=2))
    return found


def result_for(box: list[int], label: int) -> Result:
    probabilities = tuple(0.7 if i == label else 0.05 for i in range(len(EMOTIONS)))
    return Result(
        camera_id="cam-1",
        frame_number=0,
        captured_at=1.0,
        faces=(FaceResult(Box(*box), label, probabilities),),
        timings=StageTimings(0.0, 0.0, 0.0, 0.0, 0.0),
        worker_id="w1",
        model_id="m1",
        published_at=2.0,
    )


@pytest.fixture(scope="module")
def found_faces(fer_data_dir: Path) -> list[tuple[npt.NDArray[np.uint8], list[int], int]]:
    """Scenes (one face each) whose face Haar finds in the original: image, box, label."""
    scenes = SceneGenerator(fer_data_dir, seed=21, size=(480, 360), faces_per_frame=(1, 1))
    kept = []
    for _ in range(SCENES):
        image, [truth] = scenes.next_scene()
        region = hidden_region(tuple(truth["box"]), image.shape[1], image.shape[0])
        if faces_in(image, region) > 0:
            kept.append((image, truth["box"], truth["label"]))
    assert len(kept) >= SCENES // 3, "Haar should find most of the scenes' faces unhidden"
    return kept


@pytest.mark.parametrize("mode", ["blur", "pixelate"])
def test_a_hidden_face_cannot_be_found_again(
    mode: str, found_faces: list[tuple[npt.NDArray[np.uint8], list[int], int]]
) -> None:
    for image, box, label in found_faces:
        region = hidden_region(tuple(box), image.shape[1], image.shape[0])  # type: ignore[arg-type]

        hidden = annotate(image, result_for(box, label), blur=mode)

        assert faces_in(hidden, region) == 0
        assert faces_in(image, region) > 0  # the original is untouched


@pytest.mark.parametrize("mode", ["blur", "pixelate"])
def test_a_hidden_face_keeps_its_box_and_label(
    mode: str, found_faces: list[tuple[npt.NDArray[np.uint8], list[int], int]]
) -> None:
    image, box, label = found_faces[0]
    x, y, w, h = box

    hidden = annotate(image, result_for(box, label), blur=mode)

    colour = COLOURS[label]
    assert tuple(hidden[y + h // 2, x]) == colour  # the box's left edge
    assert (hidden[max(0, y - 12), x + 2 : x + 40] == colour).all(axis=1).any()  # label
    inside = hidden[y + 4 : y + h - 4, x + 4 : x + w - 4]
    assert inside.std() < image[y + 4 : y + h - 4, x + 4 : x + w - 4].std()  # smoothed


def test_off_leaves_the_face_as_it_is(
    found_faces: list[tuple[npt.NDArray[np.uint8], list[int], int]],
) -> None:
    image, box, _ = found_faces[0]
    copy = image.copy()

    hide_faces(copy, [tuple(box)], "off")  # type: ignore[list-item]

    assert np.array_equal(copy, image)


def test_an_unknown_mode_is_refused() -> None:
    with pytest.raises(ValueError, match="expected a blur mode in"):
        hide_faces(np.zeros((10, 10, 3), np.uint8), [], "smudge")
