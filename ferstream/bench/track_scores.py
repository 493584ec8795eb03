"""Scores of tracked frames against a moving sequence's truth, and of labels over time.

- **Identity.** Each frame, visible true faces are matched one-to-one to published tracks
  (IoU >= 0.3). An *ID switch* is a true face matched to another track than the one it
  was last matched to. An *interruption* is a stretch of frames in which a face that had
  a track is hidden or matched to none; *fragmentation* is the share of interruptions
  after which the face comes back under another track (the track did not bridge them).
- **Recall.** Visible true faces that a detection of that frame overlaps (IoU >= 0.3).
- **Flicker.** Changes of the shown label per track-second: raw (each frame's argmax) and
  smoothed (the track's label, "uncertain" counted as a label of its own).
- **Accuracy.** Matched face-frames whose label equals the truth, raw and smoothed: over
  all frames, and inside segments (from ``SETTLE_SECONDS`` after each true change, the
  lag the issue allows, to the next), where smoothing is judged on its labels, not its
  lag. "Uncertain" counts as wrong.
- **Lag.** From each true expression change to the first frame at which the face's track
  shows the new label (smoothed) or a detection of it predicts it (raw); changes whose
  new label is never shown before the next change are counted apart, not timed.
"""

from __future__ import annotations

import itertools
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ferstream.bench.sequences import Tracked
from ferstream.scoring import iou

MATCH_IOU = 0.3
UNCERTAIN = -1
SETTLE_SECONDS = 0.5  # a segment's interior starts this long after its change


@dataclass(frozen=True)
class TrackScores:
    face_frames: int  # visible true face-frames
    matched_frames: int  # of them, matched to a published track
    id_switches: int
    fragmentation: float  # of interruptions, those the face's track did not bridge
    interruptions: int
    recall: float  # of detections
    raw_changes_per_track_second: float
    smoothed_changes_per_track_second: float
    raw_accuracy: float
    smoothed_accuracy: float
    raw_interior_accuracy: float
    smoothed_interior_accuracy: float
    raw_lag_median_s: float | None
    smoothed_lag_median_s: float | None
    changes_timed: int
    changes_never_shown: int
    track_seconds: float
    true_changes_per_track_second: float  # the expression changes: no label changes less

    @property
    def switches_per_100(self) -> float:
        return 100.0 * self.id_switches / max(1, self.matched_frames)

    @property
    def flicker_reduction(self) -> float | None:
        if self.smoothed_changes_per_track_second == 0:
            return None
        return self.raw_changes_per_track_second / self.smoothed_changes_per_track_second


def match_boxes(boxes: Sequence[Sequence[int]], truth: Sequence[dict[str, Any]]) -> dict[int, int]:
    """Greedy one-to-one at IoU >= 0.3: truth index -> box index."""
    pairs = sorted(
        (
            (iou(list(b), list(t["box"])), i, j)
            for i, b in enumerate(boxes)
            for j, t in enumerate(truth)
        ),
        reverse=True,
    )
    used_boxes: set[int] = set()
    out: dict[int, int] = {}
    for overlap, i, j in pairs:
        if overlap >= MATCH_IOU and i not in used_boxes and j not in out:
            used_boxes.add(i)
            out[j] = i
    return out


def score_tracks(
    frames: Sequence[Tracked], changes: Sequence[tuple[int, float, int]]
) -> TrackScores:
    """Scores of ``frames`` of a moving sequence with expression ``changes`` (actor, t, label)."""
    last_track: dict[int, str] = {}
    interrupted: set[int] = set()  # actors hidden or untracked since their last match
    switches = face_frames = matched = detected = interruptions = broken = 0
    raw_right = smoothed_right = 0
    inside = Counter[str]()
    changed_at: dict[int, list[float]] = defaultdict(list)
    for actor, at, _ in changes:
        changed_at[actor].append(at)
    shown: dict[int, list[tuple[float, int, int]]] = defaultdict(list)  # actor: (t, raw, smoothed)
    for frame in frames:
        visible = [t for t in frame.truth if t["visible"]]
        face_frames += len(visible)
        detected += len(match_boxes([f.box.as_list() for f in frame.result.faces], visible))
        seen = [s for s in frame.tracks]
        pairs = match_boxes([list(s.box) for s in seen], visible)
        tracked = {int(visible[j]["actor"]) for j in pairs}
        for truth in frame.truth:
            actor = int(truth["actor"])
            if actor in last_track and actor not in tracked and actor not in interrupted:
                interrupted.add(actor)
                interruptions += 1
        for j, i in pairs.items():
            actor, state = int(visible[j]["actor"]), seen[i]
            matched += 1
            if actor in last_track and last_track[actor] != state.track_id:
                switches += 1
                broken += actor in interrupted
            interrupted.discard(actor)
            last_track[actor] = state.track_id
            label = int(visible[j]["label"])
            raw = int(np.argmax(state.raw)) if state.raw is not None else UNCERTAIN
            smoothed = UNCERTAIN if state.label is None else state.label
            raw_right += raw == label
            smoothed_right += smoothed == label
            since = frame.at - max((t for t in changed_at[actor] if t <= frame.at), default=-1e9)
            if since >= SETTLE_SECONDS:
                inside.update(frames=1, raw=int(raw == label), smoothed=int(smoothed == label))
            shown[actor].append((frame.at, raw, smoothed))
    raw_flicker, smoothed_flicker, seconds = label_flicker(frames)
    raw_lags, smoothed_lags, never = _lags(shown, changes)
    return TrackScores(
        face_frames=face_frames,
        matched_frames=matched,
        id_switches=switches,
        fragmentation=broken / max(1, interruptions),
        interruptions=interruptions,
        recall=detected / max(1, face_frames),
        raw_changes_per_track_second=raw_flicker,
        smoothed_changes_per_track_second=smoothed_flicker,
        raw_accuracy=raw_right / max(1, matched),
        smoothed_accuracy=smoothed_right / max(1, matched),
        raw_interior_accuracy=inside["raw"] / max(1, inside["frames"]),
        smoothed_interior_accuracy=inside["smoothed"] / max(1, inside["frames"]),
        raw_lag_median_s=float(np.median(raw_lags)) if raw_lags else None,
        smoothed_lag_median_s=float(np.median(smoothed_lags)) if smoothed_lags else None,
        changes_timed=len(smoothed_lags),
        changes_never_shown=never,
        track_seconds=seconds,
        true_changes_per_track_second=len(changes) / seconds if seconds else 0.0,
    )


def label_flicker(frames: Sequence[Tracked]) -> tuple[float, float, float]:
    """Label changes per track-second, raw and smoothed, over frames where each track is
    seen, and the track-seconds (footage with or without truth)."""
    history: dict[str, list[tuple[float, int, int]]] = defaultdict(list)
    for frame in frames:
        for state in frame.tracks:
            if state.raw is None:
                continue
            smoothed = UNCERTAIN if state.label is None else state.label
            history[state.track_id].append((frame.at, int(np.argmax(state.raw)), smoothed))
    raw = smoothed = 0
    seconds = 0.0
    for points in history.values():
        seconds += points[-1][0] - points[0][0]
        raw += sum(a[1] != b[1] for a, b in itertools.pairwise(points))
        smoothed += sum(a[2] != b[2] for a, b in itertools.pairwise(points))
    if seconds <= 0:
        return 0.0, 0.0, 0.0
    return raw / seconds, smoothed / seconds, seconds


def _lags(
    shown: dict[int, list[tuple[float, int, int]]], changes: Sequence[tuple[int, float, int]]
) -> tuple[list[float], list[float], int]:
    raw_lags: list[float] = []
    smoothed_lags: list[float] = []
    never = 0
    by_actor: dict[int, list[tuple[float, int]]] = defaultdict(list)
    for actor, at, label in changes:
        by_actor[actor].append((at, label))
    for actor, actor_changes in by_actor.items():
        points = shown.get(actor, [])
        for index, (at, label) in enumerate(actor_changes):
            until = actor_changes[index + 1][0] if index + 1 < len(actor_changes) else float("inf")
            window = [p for p in points if at <= p[0] < until]
            raw = next((p[0] - at for p in window if p[1] == label), None)
            smoothed = next((p[0] - at for p in window if p[2] == label), None)
            if smoothed is None:
                never += 1
                continue
            smoothed_lags.append(smoothed)
            if raw is not None:
                raw_lags.append(raw)
    return raw_lags, smoothed_lags, never
