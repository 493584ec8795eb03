"""Drawing one annotated frame: ``ferstream analyze``'s boxes, labels and colours on the
camera's newest frame (or, without one, on a grey canvas: boxes only), JPEG-encoded."""

from __future__ import annotations

import cv2
import numpy as np
import numpy.typing as npt

from common.errors import InvalidFrame
from common.wire import Frame, Result, Tracks
from ferstream.analyze import annotate
from producer.encoding import encode_jpeg, fit_within
from tracking.tracker import TrackState

Image = npt.NDArray[np.uint8]

MAX_SIDE = 960  # drawn no larger: a tile or a page shows no more
REDUCE_FROM = 480  # frames this wide or wider are drawn at half size for the grid alone
JPEG_QUALITY = 80
CANVAS = (480, 640)  # height, width of the grey canvas when no frame may be kept
CANVAS_GREY = 64
STALE_TEXT = "STALE"


def frame_image(frame: Frame, reduced: bool = False) -> tuple[Image, float]:
    """The decoded pixels of ``frame`` and the factor from its pixels to theirs; with
    ``reduced``, a frame ``REDUCE_FROM`` wide or more is decoded at half size (libjpeg's
    own scaling: about four times cheaper, enough for a grid's tile). ``InvalidFrame`` if
    they do not decode."""
    half = reduced and frame.width >= REDUCE_FROM
    pixels = np.frombuffer(frame.image, dtype=np.uint8)
    image = cv2.imdecode(pixels, cv2.IMREAD_REDUCED_COLOR_2 if half else cv2.IMREAD_COLOR)
    if image is None:
        raise InvalidFrame(
            f"camera {frame.camera_id} frame {frame.frame_number}: expected a decodable "
            f"{frame.encoding}, got {len(frame.image)} bytes that are not"
        )
    return np.asarray(image, dtype=np.uint8), image.shape[1] / frame.width


def canvas_for(result: Result) -> Image:
    """A grey canvas large enough for every box of ``result`` (no frame to draw on)."""
    height, width = CANVAS
    for face in result.faces:
        width = max(width, face.box.x + face.box.w)
        height = max(height, face.box.y + face.box.h)
    return np.full((height, width, 3), CANVAS_GREY, dtype=np.uint8)


def track_states(tracks: Tracks | None) -> list[TrackState]:
    """``annotate``'s view of a ``Tracks`` message."""
    if tracks is None:
        return []
    return [
        TrackState(
            track_id=t.track_id,
            box=(t.box.x, t.box.y, t.box.w, t.box.h),
            seen=t.seen,
            raw=t.raw,
            smoothed=t.smoothed,
            label=t.label,
            first_seen=t.first_seen,
            last_seen=t.last_seen,
            hits=t.hits,
        )
        for t in tracks.tracks
    ]


def render(image: Image, scale: float, result: Result, tracks: Tracks | None, blur: str) -> bytes:
    """JPEG of ``image`` (``scale`` times the result's frame pixels) with the result drawn
    on it, as ``ferstream analyze`` draws it; faces hidden first when ``blur`` says so."""
    fitted, factor = fit_within(image, MAX_SIDE)
    drawn = annotate(fitted, result, scale * factor, track_states(tracks), blur)
    return encode_jpeg(drawn, JPEG_QUALITY)


def mark_stale(jpeg: bytes) -> bytes:
    """The same drawing, dimmed, with ``STALE`` across its top: its frame is gone."""
    decoded = cv2.imdecode(np.frombuffer(jpeg, dtype=np.uint8), cv2.IMREAD_COLOR)
    if decoded is None:
        raise InvalidFrame(f"expected a decodable annotated JPEG, got {len(jpeg)} bytes")
    image = np.asarray(decoded // 2, dtype=np.uint8)
    font, size = cv2.FONT_HERSHEY_SIMPLEX, 0.9
    (width, height), baseline = cv2.getTextSize(STALE_TEXT, font, size, 2)
    cv2.rectangle(image, (8, 8), (20 + width, 20 + height + baseline), (0, 0, 160), cv2.FILLED)
    cv2.putText(image, STALE_TEXT, (14, 14 + height), font, size, (255, 255, 255), 2, cv2.LINE_AA)
    return encode_jpeg(image, JPEG_QUALITY)
