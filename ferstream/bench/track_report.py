"""``ferstream bench-tracks``: identity, flicker, lag and speed of the track stage, on
labelled moving sequences (5 and 25 fps) and on real clips, written as JSON, markdown
and figures.

Each sequence runs twice through the worker's pipeline on one thread: whole-frame
detection, and detection guided by the tracks (``worker.guidance``). Identity and label
scores come from the guided run, the way a deployment with guidance on would see them,
and the whole-frame run's are reported beside them.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import cv2
import numpy as np
import numpy.typing as npt

from common.settings import Settings
from common.wire import EMOTIONS
from ferstream.analyze import video_fps
from ferstream.bench.alignment import LAGS_SECONDS, AlignmentRow, score_alignment
from ferstream.bench.results import Target
from ferstream.bench.sequences import Tracked, motion_frames, run_sequence, video_frames
from ferstream.bench.track_load import TrackLoad, run_track_load
from ferstream.bench.track_scores import (
    SETTLE_SECONDS,
    TrackScores,
    label_flicker,
    match_boxes,
    score_tracks,
)
from ferstream.scoring import iou
from producer.motion import HEAD_TILT_DEG, MotionSequence, turned
from producer.scenes import paste_face
from tracking.service import tracker_config
from tracking.tracker import TrackerConfig
from training.real_footage import SEGMENTS
from worker.detector import FaceDetector
from worker.pipeline import FramePipeline
from worker.runtime import configure_threads, load_pipeline

REAL_CLIPS = ("single_face.mp4", "noface_face.mov")


@dataclass(frozen=True)
class TrackBenchOptions:
    seconds: float = 60.0  # per scene: about 27 expression segments of two faces
    rates: tuple[float, ...] = (5.0, 25.0)
    actors: int = 2
    seeds: tuple[int, ...] = (0, 1, 2)  # one scene each, scored together
    real_dir: Path = Path("../shared/data/real")
    load_seconds: float = 60.0  # the track stage beside the pool at 200 % load (0: skip)
    out: Path = Path("reports/bench-tracks")


@dataclass(frozen=True)
class SpeedRow:
    name: str
    frames: int
    whole_fps: float  # frames/s on one core, whole-frame detection
    guided_fps: float
    whole_faces: int
    guided_faces: int
    recall_vs_whole: float  # of the whole-frame run's faces, found by the guided run
    # recall against the truth, where there is one (the moving sequences): whole, guided
    truth_recall: tuple[float, float] | None = None
    # frames/s on the frames where the whole-frame search found a face: whole, guided
    with_faces_fps: tuple[float, float] = (0.0, 0.0)

    @property
    def speedup(self) -> float:
        return self.guided_fps / self.whole_fps if self.whole_fps else 0.0

    @property
    def recall_kept(self) -> bool:
        """Face recall no more than 1 point lower: against the truth where there is one,
        else the whole-frame run's faces found again."""
        if self.truth_recall is not None:
            return self.truth_recall[1] >= self.truth_recall[0] - 0.01
        return self.recall_vs_whole >= 0.99


@dataclass(frozen=True)
class SequenceRow:
    fps: float
    guided: TrackScores
    whole: TrackScores


@dataclass(frozen=True)
class ClipRow:
    name: str
    raw_changes_per_track_second: float
    smoothed_changes_per_track_second: float
    track_seconds: float
    known_frames: int = 0  # frames of a segment with a known expression (training.real_footage)
    raw_accuracy: float | None = None  # on those frames, the largest face's label
    smoothed_accuracy: float | None = None
    raw_interior_accuracy: float | None = None  # past SETTLE_SECONDS into a segment
    smoothed_interior_accuracy: float | None = None


@dataclass
class TrackReport:
    options: dict[str, Any]
    sequences: list[SequenceRow] = field(default_factory=list)
    speed: list[SpeedRow] = field(default_factory=list)
    clips: list[ClipRow] = field(default_factory=list)
    alignment: list[AlignmentRow] = field(default_factory=list)  # the live view's boxes
    load: TrackLoad | None = None
    targets: list[Target] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "options": self.options,
            "sequences": [
                {"fps": r.fps, "guided": _scores(r.guided), "whole": _scores(r.whole)}
                for r in self.sequences
            ],
            "speed": [{**asdict(r), "speedup": r.speedup} for r in self.speed],
            "clips": [asdict(r) for r in self.clips],
            "alignment": [asdict(r) for r in self.alignment],
            "load": None
            if self.load is None
            else {**asdict(self.load), "keeps_up": self.load.keeps_up},
            "targets": [asdict(t) for t in self.targets],
        }


def _scores(scores: TrackScores) -> dict[str, Any]:
    return {
        **asdict(scores),
        "switches_per_100": scores.switches_per_100,
        "flicker_reduction": scores.flicker_reduction,
    }


def run_track_bench(
    settings: Settings, options: TrackBenchOptions, say: Callable[[str], None] = print
) -> TrackReport:
    """Run every sequence and clip both ways; write the report; return it."""
    one_core = settings.with_changes(threads_per_worker=1)
    configure_threads(1)  # OpenCV's default would search whole frames on every core
    whole = load_pipeline(one_core.with_changes(detect_guided=False), "bench-whole")
    guided = load_pipeline(one_core.with_changes(detect_guided=True), "bench-guided")
    config = tracker_config(settings)
    report = TrackReport({k: str(v) for k, v in asdict(options).items()})
    usable = detectable(whole.detector)
    for fps in options.rates:
        say(
            f"moving sequences at {fps:g} fps: {len(options.seeds)} x "
            f"{int(options.seconds * fps)} frames, both ways ..."
        )
        runs, changes, first = _run_sequences(
            options, settings.data_dir, fps, (whole, guided), config, usable
        )
        report.sequences.append(
            SequenceRow(
                fps, score_tracks(runs["guided"], changes), score_tracks(runs["whole"], changes)
            )
        )
        report.alignment += [score_alignment(runs["guided"], fps, lag) for lag in LAGS_SECONDS]
        speed = _speed(f"moving, {fps:g} fps", runs["whole"], runs["guided"])
        truth = (report.sequences[-1].whole.recall, report.sequences[-1].guided.recall)
        report.speed.append(replace(speed, truth_recall=truth))
        if fps == max(options.rates):
            _plot_labels(first[1], first[0], options.out / "bench-tracks-labels.png")
    for name in REAL_CLIPS:
        path = options.real_dir / name
        if not path.is_file():
            say(f"skipping {path}: not found")
            continue
        say(f"real clip {name}, both ways ...")
        clip_fps = video_fps(path)
        runs = {
            label: run_sequence(video_frames(path, clip_fps), pipeline, config, "clip", clip_fps)
            for label, pipeline in (("whole", whole), ("guided", guided))
        }
        report.speed.append(_speed(name, runs["whole"], runs["guided"]))
        raw, smoothed, seconds = label_flicker(runs["guided"])
        every, inside = segment_accuracy(name, runs["guided"], clip_fps)
        report.clips.append(
            ClipRow(
                name,
                raw,
                smoothed,
                seconds,
                every["frames"],
                _share(every, "raw"),
                _share(every, "smoothed"),
                _share(inside, "raw"),
                _share(inside, "smoothed"),
            )
        )
    if options.load_seconds > 0:
        report.load = run_track_load(settings, settings.data_dir, options.load_seconds, say=say)
    report.targets = evaluate_targets(report)
    write_report(report, options.out)
    say(report_markdown(report))
    return report


def _run_sequences(
    options: TrackBenchOptions,
    data_dir: Path,
    fps: float,
    pipelines: tuple[FramePipeline, FramePipeline],
    config: TrackerConfig,
    usable: Callable[[npt.NDArray[np.uint8]], bool],
) -> tuple[
    dict[str, list[Tracked]], list[tuple[int, float, int]], tuple[MotionSequence, list[Tracked]]
]:
    """One moving sequence per seed, both ways, laid end to end as one: the k-th starts
    ``k * (seconds + 10)`` seconds in and its actors are numbered from ``100 * k``, so the
    scores pool every scene. Also the first sequence and its guided run, for the plot."""
    runs: dict[str, list[Tracked]] = {"whole": [], "guided": []}
    changes: list[tuple[int, float, int]] = []
    first: tuple[MotionSequence, list[Tracked]] | None = None
    for k, seed in enumerate(options.seeds):
        sequence = MotionSequence(data_dir, options.seconds, seed, options.actors, usable=usable)
        shift, actors = k * (options.seconds + 10.0), 100 * k
        for name, pipeline in zip(("whole", "guided"), pipelines, strict=True):
            tracked = run_sequence(motion_frames(sequence, fps), pipeline, config, fps=fps)
            if first is None and name == "guided":
                first = (sequence, tracked)
            runs[name] += [_shifted(f, shift, actors) for f in tracked]
        changes += [(a + actors, t + shift, label) for a, t, label in sequence.label_changes()]
    assert first is not None
    return runs, changes, first


def _shifted(frame: Tracked, seconds: float, actors: int) -> Tracked:
    truth = tuple({**t, "actor": int(t["actor"]) + actors} for t in frame.truth)
    return replace(frame, at=frame.at + seconds, truth=truth)


def detectable(detector: FaceDetector) -> Callable[[npt.NDArray[np.uint8]], bool]:
    """Whether the detector finds a face pasted alone at a webcam's size: the moving
    sequences use such faces, so they score the tracks, not Haar on FER2013's hard crops
    (``ferstream bench-detect`` measures those)."""

    def usable(face: npt.NDArray[np.uint8]) -> bool:
        turns = (-HEAD_TILT_DEG, 0.0, HEAD_TILT_DEG)  # as far as the sequence sways it
        return all(
            _found_alone(detector, turned(face, angle), side)
            for side in (100, 150)
            for angle in turns
        )

    return usable


def _found_alone(detector: FaceDetector, face: npt.NDArray[np.uint8], side: int) -> bool:
    canvas = np.full((2 * side, 2 * side, 3), 128, dtype=np.uint8)
    corner = side // 2
    paste_face(canvas, face, corner, corner, side)
    gray = np.asarray(cv2.cvtColor(canvas, cv2.COLOR_BGR2GRAY), dtype=np.uint8)
    truth = [corner, corner, side, side]
    return any(iou(list(box), truth) >= 0.5 for box in detector.detect(gray))


def segment_accuracy(
    clip: str, frames: Sequence[Tracked], fps: float
) -> tuple[Counter[str], Counter[str]]:
    """Frames of ``clip`` inside a segment of known expression (``training.real_footage``),
    and how many of them the largest face's raw label and its track's label get right:
    over all those frames, and over those ``SETTLE_SECONDS`` past a segment's start
    (unless it starts the clip: no change precedes it)."""
    every, inside = Counter[str](), Counter[str]()
    settle = round(SETTLE_SECONDS * fps)
    for segment in SEGMENTS:
        if segment.file != clip or segment.expected is None:
            continue
        expected = EMOTIONS.index(segment.expected)
        start = segment.first + (settle if segment.first > 0 else 0)
        for number, frame in enumerate(frames):
            if not segment.first <= number <= segment.last:
                continue
            seen = [(t, t.raw) for t in frame.tracks if t.seen and t.raw is not None]
            right = {"raw": 0, "smoothed": 0}
            if seen:
                largest, raw = max(seen, key=lambda pair: pair[0].box[2] * pair[0].box[3])
                right["raw"] = int(int(np.argmax(raw)) == expected)
                right["smoothed"] = int(largest.label == expected)
            for counts in (every, inside) if number >= start else (every,):
                counts.update(frames=1, **right)
    return every, inside


def _share(counts: Counter[str], key: str) -> float | None:
    return counts[key] / counts["frames"] if counts["frames"] else None


def _speed(name: str, whole: Sequence[Tracked], guided: Sequence[Tracked]) -> SpeedRow:
    whole_faces = sum(len(f.result.faces) for f in whole)
    found = 0
    for reference, candidate in zip(whole, guided, strict=True):
        boxes = [g.box.as_list() for g in candidate.result.faces]
        for face in reference.result.faces:
            if any(iou(face.box.as_list(), b) >= 0.3 for b in boxes):
                found += 1
    with_faces = [(w, g) for w, g in zip(whole, guided, strict=True) if w.result.faces]
    return SpeedRow(
        name=name,
        frames=len(whole),
        whole_fps=_fps(whole),
        guided_fps=_fps(guided),
        whole_faces=whole_faces,
        guided_faces=sum(len(f.result.faces) for f in guided),
        recall_vs_whole=found / max(1, whole_faces),
        with_faces_fps=(_fps([w for w, _ in with_faces]), _fps([g for _, g in with_faces])),
    )


def _fps(frames: Sequence[Tracked]) -> float:
    return len(frames) / max(1e-9, sum(f.seconds for f in frames)) if frames else 0.0


def evaluate_targets(report: TrackReport) -> list[Target]:
    targets: list[Target] = []
    for row in report.sequences:
        s = row.guided
        rate = f"{row.fps:g} fps"
        targets.append(
            Target(
                f"ID switches <= 1 per 100 track-frames, {rate}",
                f"{s.switches_per_100:.2f} ({s.id_switches} in {s.matched_frames})",
                s.switches_per_100 <= 1.0,
            )
        )
        targets.append(
            Target(
                f"fragmentation <= 5%, {rate}",
                f"{100 * s.fragmentation:.1f}% of {s.interruptions} interruptions "
                "(occlusions, misses) not bridged",
                s.fragmentation <= 0.05,
            )
        )
        reduction = s.flicker_reduction
        targets.append(
            Target(
                f"label changes per track-second fall >= 5x, {rate}",
                f"{s.raw_changes_per_track_second:.2f} -> {s.smoothed_changes_per_track_second:.2f}"
                + (f" ({reduction:.1f}x)" if reduction else " (no change at all)")
                + f"; the expression itself changes {s.true_changes_per_track_second:.2f}/s, "
                f"so at most {_ceiling(s):.1f}x while every change is shown",
                reduction is None or reduction >= 5.0,
            )
        )
        targets.append(
            Target(
                f"segment accuracy no worse than raw, {rate}",
                f"inside segments raw {s.raw_interior_accuracy:.3f}, smoothed "
                f"{s.smoothed_interior_accuracy:.3f}; all frames (with the lag) raw "
                f"{s.raw_accuracy:.3f}, smoothed {s.smoothed_accuracy:.3f}",
                s.smoothed_interior_accuracy >= s.raw_interior_accuracy,
            )
        )
        lag = s.smoothed_lag_median_s
        targets.append(
            Target(
                f"median lag to the new label <= 0.5 s, {rate}",
                "not measured"
                if lag is None
                else f"{lag:.2f} s over {s.changes_timed} changes "
                f"({s.changes_never_shown} never shown)",
                None if lag is None else lag <= 0.5,
            )
        )
    for speed in report.speed:
        targets.append(
            Target(
                f"guided detection: frames/s per core >= 2x, recall within 1 point ({speed.name})",
                f"{speed.whole_fps:.0f} -> {speed.guided_fps:.0f} ({speed.speedup:.2f}x), "
                + _recall_text(speed),
                speed.speedup >= 2.0 and speed.recall_kept,
            )
        )
    load = report.load
    targets.append(
        Target(
            "at 200% load the track stage keeps up, its Redis memory bounded",
            "not run"
            if load is None
            else f"{load.tracked_frames} of {load.results} results tracked, lag p50 "
            f"{load.lag_p50_ms:.0f} / p99 {load.lag_p99_ms:.0f} / max {load.lag_max_ms:.0f} ms "
            f"(newest {load.lag_sample} frames), {load.late_results} late; track keys "
            f"{load.track_keys_bytes / 1024:.0f} KiB (streams capped at "
            f"{load.tracks_per_camera_cap} per camera)",
            None if load is None else load.keeps_up,
        )
    )
    return targets


def _recall_text(speed: SpeedRow) -> str:
    found = f"{100 * speed.recall_vs_whole:.1f}% of whole-frame faces found"
    if speed.truth_recall is None:
        return found
    whole, guided = speed.truth_recall
    return f"recall {100 * whole:.1f}% -> {100 * guided:.1f}% of the true faces ({found})"


def _ceiling(scores: TrackScores) -> float:
    """The largest reduction of label changes that still shows every true change."""
    true = scores.true_changes_per_track_second
    return scores.raw_changes_per_track_second / true if true else float("inf")


def write_report(report: TrackReport, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "bench-tracks.json").write_text(json.dumps(report.to_json(), indent=2))
    (out / "bench-tracks.md").write_text(report_markdown(report))


def report_markdown(report: TrackReport) -> str:
    lines = ["# Track stage benchmark", ""]
    lines += ["| target | measured | met |", "| --- | --- | --- |"]
    for t in report.targets:
        met = "yes" if t.met else ("not measured" if t.met is None else "**no**")
        lines.append(f"| {t.target} | {t.measured} | {met} |")
    lines += ["", "## Moving sequences (guided run; whole-frame run in brackets)", ""]
    lines += [
        "| fps | face-frames | matched | ID switches /100 | fragmentation | recall | "
        "changes/track-s raw -> smoothed (true) | accuracy raw -> smoothed, all frames "
        "| inside segments | median lag raw / smoothed |",
        "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for row in report.sequences:
        g, w = row.guided, row.whole
        lines.append(
            f"| {row.fps:g} | {g.face_frames} | {g.matched_frames} ({w.matched_frames}) | "
            f"{g.switches_per_100:.2f} ({w.switches_per_100:.2f}) | "
            f"{100 * g.fragmentation:.1f}% ({100 * w.fragmentation:.1f}%) | "
            f"{100 * g.recall:.1f}% ({100 * w.recall:.1f}%) | "
            f"{g.raw_changes_per_track_second:.2f} -> {g.smoothed_changes_per_track_second:.2f} "
            f"({g.true_changes_per_track_second:.2f}) | "
            f"{g.raw_accuracy:.3f} -> {g.smoothed_accuracy:.3f} | "
            f"{g.raw_interior_accuracy:.3f} -> {g.smoothed_interior_accuracy:.3f} | "
            f"{_s(g.raw_lag_median_s)} / {_s(g.smoothed_lag_median_s)} |"
        )
    lines += ["", "## Speed: one core, whole-frame vs guided detection", ""]
    lines += [
        "| input | frames | whole fps | guided fps | speed-up | faces whole / guided "
        "| recall vs whole | frames with a face: fps whole -> guided |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for r in report.speed:
        lines.append(
            f"| {r.name} | {r.frames} | {r.whole_fps:.0f} | {r.guided_fps:.0f} | "
            f"{r.speedup:.2f}x | {r.whole_faces} / {r.guided_faces} | "
            f"{100 * r.recall_vs_whole:.1f}% | {r.with_faces_fps[0]:.0f} -> "
            f"{r.with_faces_fps[1]:.0f} |"
        )
    if report.clips:
        lines += ["", "## Real clips: label changes per track-second", ""]
        lines += [
            "| clip | raw | smoothed | track-seconds | frames of a known expression "
            "| accuracy raw -> smoothed | inside segments |",
            "| --- | --- | --- | --- | --- | --- | --- |",
        ]
        for c in report.clips:
            lines.append(
                f"| {c.name} | {c.raw_changes_per_track_second:.2f} | "
                f"{c.smoothed_changes_per_track_second:.2f} | {c.track_seconds:.1f} | "
                f"{c.known_frames} | {_pair(c.raw_accuracy, c.smoothed_accuracy)} | "
                f"{_pair(c.raw_interior_accuracy, c.smoothed_interior_accuracy)} |"
            )
    lines += _alignment_markdown(report.alignment)
    lines += ["", "![labels over time](bench-tracks-labels.png)", ""]
    return "\n".join(lines)


def _alignment_markdown(rows: Sequence[AlignmentRow]) -> list[str]:
    """The live view's boxes on the newer frame they are drawn on (``web.motion``)."""
    if not rows:
        return []
    title = "## Live view: boxes on a newer frame, as they are -> moved along their track"
    lines = ["", title, ""]
    lines += [
        "| fps | frame drawn on, later by | tracked faces | IoU with the true face "
        "| on the face (IoU >= 0.5) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for r in rows:
        lines.append(
            f"| {r.fps:g} | {1000 * r.lag_seconds:.0f} ms | {r.faces} | "
            f"{r.iou_as_is:.3f} -> {r.iou_moved:.3f} | "
            f"{100 * r.on_face_as_is:.1f}% -> {100 * r.on_face_moved:.1f}% |"
        )
    return lines


def _pair(raw: float | None, smoothed: float | None) -> str:
    return "-" if raw is None or smoothed is None else f"{raw:.3f} -> {smoothed:.3f}"


def _s(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"


def _plot_labels(frames: Sequence[Tracked], sequence: MotionSequence, path: Path) -> None:
    """Per actor: the true label, each frame's raw label and the track's shown label."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from common.wire import EMOTIONS

    path.parent.mkdir(parents=True, exist_ok=True)
    figure, axes = plt.subplots(
        len(sequence.actors), 1, figsize=(12, 3 * len(sequence.actors)), squeeze=False
    )
    for actor, ax in zip(sequence.actors, axes[:, 0], strict=True):
        truth_t, truth_l, raw_t, raw_l, sm_t, sm_l = [], [], [], [], [], []
        for frame in frames:
            mine = [t for t in frame.truth if t["actor"] == actor.actor_id]
            truth_t.append(frame.at)
            truth_l.append(mine[0]["label"] if mine else None)
            if not mine or not mine[0]["visible"]:
                continue
            pairs = match_boxes([list(s.box) for s in frame.tracks], mine)
            if 0 in pairs:
                state = frame.tracks[pairs[0]]
                if state.raw is not None:
                    raw_t.append(frame.at)
                    raw_l.append(max(range(7), key=lambda k: state.raw[k]))  # type: ignore[index]
                sm_t.append(frame.at)
                sm_l.append(-1 if state.label is None else state.label)
        ax.step(truth_t, truth_l, where="post", color="black", lw=2, label="truth")
        ax.plot(raw_t, raw_l, ".", ms=3, color="tab:orange", label="raw (per frame)")
        ax.step(sm_t, sm_l, where="post", color="tab:blue", lw=1.2, label="track (smoothed)")
        ax.set_yticks(range(-1, 7), ["uncertain", *EMOTIONS])
        ax.set_title(f"actor {actor.actor_id}")
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7, loc="upper right")
    axes[-1, 0].set_xlabel("seconds")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
