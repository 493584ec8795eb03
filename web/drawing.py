"""Drawing one annotated frame: ``ferstream analyze``'s boxes, labels and colours on the
camera's newest frame (or, without one, on a grey canvas: boxes only), JPEG-encoded; in
results mode aggregate, a camera's newest window: its emotion mix as bars, no frame."""

from __future__ import annotations

import time

import cv2
import numpy as np
import numpy.typing as npt

from common.errors import InvalidFrame
from common.palette import EMOTION_BGR
from common.wire import EMOTIONS, Aggregate, Frame, Result, Tracks
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
WINDOW_CANVAS = (360, 640)  # height, width of a window's bars
WINDOW_GREY = 40
_FONT = cv2.FONT_HERSHEY_SIMPLEX
_WHITE = (255, 255, 255)


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


def window_mix(window: Aggregate) -> bytes:
    """JPEG of ``window``'s emotion mix: a bar per emotion, in the palette's colours, its
    share and count beside it, the window's end (this host's clock) and faces above.

    Drawn on grey, never on the camera's frame: a frame showing one person beside the
    mix of a window that person alone may have filled would tell that person's emotions,
    which this mode exists not to publish."""
    height, width = WINDOW_CANVAS
    image = np.full((height, width, 3), WINDOW_GREY, dtype=np.uint8)
    ended = time.strftime("%H:%M:%S", time.localtime(window.end))
    seconds = window.end - window.start
    title = f"{window.faces} faces in the {seconds} s to {ended}"
    cv2.putText(image, title, (16, 38), _FONT, 0.95, _WHITE, 2, cv2.LINE_AA)
    left, longest, row = 150, width - 150 - 150, (height - 64) // len(EMOTIONS)
    for index, (emotion, count) in enumerate(zip(EMOTIONS, window.counts, strict=True)):
        share = count / window.faces if window.faces else 0.0
        top, baseline = 58 + index * row, 58 + index * row + row - 12
        cv2.putText(image, emotion, (16, baseline), _FONT, 0.8, _WHITE, 2, cv2.LINE_AA)
        right = left + max(2, round(share * longest))
        colour = EMOTION_BGR[index]
        cv2.rectangle(image, (left, top + 4), (right, top + row - 4), colour, cv2.FILLED)
        figure = f"{share:.0%} ({count})"
        cv2.putText(image, figure, (right + 10, baseline), _FONT, 0.8, _WHITE, 2, cv2.LINE_AA)
    return encode_jpeg(image, JPEG_QUALITY)
