"""Labelled frames for the benchmarks: synthetic scenes encoded once, as a worker receives them.

Every benchmark scores the same kind of frame: a 640x480 ``SceneGenerator`` scene (1-3
FER2013 faces, test split) JPEG-encoded at the producers' default quality, with the
truth of each face. Encoding once, up front, keeps the producers' CPU out of the
measurements on a small machine.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from common.defaults import DEFAULT_JPEG_QUALITY
from common.settings import Settings
from common.wire import Frame
from ferstream.scoring import match_faces
from producer.encoding import encode_jpeg
from producer.scenes import SceneGenerator
from worker.decoding import decode_gray

SCENE_SIZE = (640, 480)
SCENE_SPLIT = "test"


@dataclass(frozen=True)
class LabelledFrame:
    """One encoded scene and its true faces (``{"box": [x, y, w, h], "label": int}``)."""

    jpeg: bytes
    width: int
    height: int
    truth: tuple[dict[str, Any], ...]

    def to_frame(self, camera_id: str, frame_number: int, captured_at: float) -> Frame:
        """The wire message a producer would submit for this scene, captured at ``captured_at``."""
        return Frame(
            camera_id=camera_id,
            frame_number=frame_number,
            captured_at=captured_at,
            image=self.jpeg,
            width=self.width,
            height=self.height,
            encoding="jpeg",
            metadata={"faces": [dict(face) for face in self.truth]},
        )

    def gray(self, settings: Settings) -> npt.NDArray[np.uint8]:
        """The grayscale image a worker decodes from this frame."""
        return decode_gray(self.jpeg, "jpeg", settings.max_frame_bytes, settings.max_frame_pixels)


def labelled_frames(
    data_dir: Path,
    count: int,
    seed: int = 0,
    jpeg_quality: int = DEFAULT_JPEG_QUALITY,
) -> list[LabelledFrame]:
    """``count`` distinct scenes from the FER2013 test split of ``data_dir``, reproducibly."""
    if count < 1:
        raise ValueError(f"count: expected >= 1 scenes, got {count!r}")
    generator = SceneGenerator(data_dir, SCENE_SPLIT, seed=seed, size=SCENE_SIZE)
    frames = []
    for _ in range(count):
        image, truth = generator.next_scene()
        height, width = image.shape[:2]
        frames.append(LabelledFrame(encode_jpeg(image, jpeg_quality), width, height, tuple(truth)))
    return frames


def matched_faces(boxes: list[tuple[int, int, int, int]], truth: tuple[dict[str, Any], ...]) -> int:
    """How many true faces ``boxes`` find (one-to-one, IoU >= 0.3, as the demo scores)."""
    return len(match_faces([(list(box), 0) for box in boxes], list(truth)))
