"""Live figures for the demo: latency percentiles, throughput, and accuracy against truth."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from common.wire import EMOTIONS, Result

MATCH_IOU = 0.3


def iou(a: list[int] | tuple[int, ...], b: list[int] | tuple[int, ...]) -> float:
    """Intersection over union of two (x, y, w, h) boxes."""
    ax, ay, aw, ah = a
    bx, by, bw, bh = b
    inter_w = max(0, min(ax + aw, bx + bw) - max(ax, bx))
    inter_h = max(0, min(ay + ah, by + bh) - max(ay, by))
    inter = inter_w * inter_h
    union = aw * ah + bw * bh - inter
    return inter / union if union else 0.0


def match_faces(
    found: list[tuple[list[int], int]], truth: list[dict[str, Any]]
) -> list[tuple[int, int]]:
    """Greedy one-to-one matches (true label, predicted label) at IoU >= 0.3."""
    pairs = sorted(
        (
            (iou(box, t["box"]), i, j)
            for i, (box, _) in enumerate(found)
            for j, t in enumerate(truth)
        ),
        reverse=True,
    )
    used_found: set[int] = set()
    used_truth: set[int] = set()
    matches: list[tuple[int, int]] = []
    for overlap, i, j in pairs:
        if overlap < MATCH_IOU or i in used_found or j in used_truth:
            continue
        used_found.add(i)
        used_truth.add(j)
        matches.append((int(truth[j]["label"]), found[i][1]))
    return matches


@dataclass
class Scoreboard:
    """Accumulates results; ``truth`` maps (camera, frame number) to the frame's true faces."""

    started: float = field(default_factory=time.monotonic)
    truth: dict[tuple[str, int], list[dict[str, Any]]] = field(default_factory=dict)
    latencies: list[float] = field(default_factory=list)
    stages: dict[str, list[float]] = field(default_factory=dict)
    frames: int = 0
    faces: int = 0
    true_faces: int = 0
    matched: int = 0
    correct: int = 0
    emotions: Counter[str] = field(default_factory=Counter)
    early: dict[tuple[str, int], Result] = field(default_factory=dict)

    def record_truth(self, camera_id: str, frame_number: int, faces: list[dict[str, Any]]) -> None:
        """The true faces of a submitted frame (its result may already have arrived)."""
        key = (camera_id, frame_number)
        self.truth[key] = faces
        if key in self.early:
            self._score(self.early.pop(key))

    def add(self, result: Result) -> None:
        self.frames += 1
        self.faces += len(result.faces)
        self.latencies.append(result.latency)
        for stage, seconds in result.timings.to_wire().items():
            self.stages.setdefault(stage, []).append(seconds)
        self.emotions.update(face.emotion for face in result.faces)
        if (result.camera_id, result.frame_number) in self.truth:
            self._score(result)
        else:
            self.early[(result.camera_id, result.frame_number)] = result

    def _score(self, result: Result) -> None:
        truth = self.truth.pop((result.camera_id, result.frame_number))
        found = [(face.box.as_list(), face.label) for face in result.faces]
        matches = match_faces(found, truth)
        self.true_faces += len(truth)
        self.matched += len(matches)
        self.correct += sum(1 for true, predicted in matches if true == predicted)

    def summary(self) -> dict[str, Any]:
        elapsed = max(1e-9, time.monotonic() - self.started)
        latency = np.asarray(self.latencies or [np.nan]) * 1000.0
        return {
            "elapsed_s": round(elapsed, 1),
            "frames": self.frames,
            "faces": self.faces,
            "frames_per_s": round(self.frames / elapsed, 2),
            "faces_per_s": round(self.faces / elapsed, 2),
            "latency_ms": {
                q: round(float(np.percentile(latency, int(q[1:]))), 1)
                for q in ("p50", "p95", "p99")
            },
            "stage_ms_median": {
                k: round(float(np.median(v)) * 1000.0, 2) for k, v in self.stages.items()
            },
            "face_recall": round(self.matched / self.true_faces, 3) if self.true_faces else None,
            "label_accuracy": round(self.correct / self.matched, 3) if self.matched else None,
            "emotions": {name: self.emotions.get(name, 0) for name in EMOTIONS},
        }
