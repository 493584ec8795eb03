"""One colour per emotion, shared by every picture of them: ``ferstream analyze``'s
annotated video, the live view (``ferstream web``) and the Grafana dashboard's emotion
mix (``monitoring/``; ``tests/monitoring`` checks that it uses these)."""

from __future__ import annotations

from common.wire import EMOTIONS

# BGR (OpenCV's order), dark enough for white label text: angry red, disgust green, fear
# purple, happy amber, neutral grey, sad blue, surprise orange
EMOTION_BGR: tuple[tuple[int, int, int], ...] = (
    (0, 0, 220),
    (0, 128, 0),
    (128, 0, 128),
    (0, 140, 200),
    (100, 100, 100),
    (200, 0, 0),
    (0, 100, 230),
)
UNCERTAIN_BGR = (90, 90, 90)  # a track whose label is uncertain


def css_colour(bgr: tuple[int, int, int]) -> str:
    """``#rrggbb`` of an OpenCV BGR colour."""
    blue, green, red = bgr
    return f"#{red:02x}{green:02x}{blue:02x}"


def emotion_css() -> dict[str, str]:
    """Each emotion's colour as ``#rrggbb``, in ``EMOTIONS`` order."""
    return {emotion: css_colour(bgr) for emotion, bgr in zip(EMOTIONS, EMOTION_BGR, strict=True)}
