"""The benchmark report's tables, as markdown lines, from the report's JSON."""

from __future__ import annotations

from typing import Any

CAMERA_ROWS = 4  # a run with more cameras gets one accounting row


def all_runs(report: dict[str, Any]) -> list[dict[str, Any]]:
    """Every run against the pool, in the order they ran."""
    extra = [report.get("fairness"), report.get("batching_off")]
    return [*report["saturation"].values(), *report["loads"], *filter(None, extra)]


def ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 10 else f"{value:.0f}"


def reasons(counts: dict[str, int]) -> str:
    return ", ".join(f"{k} {v}" for k, v in sorted(counts.items())) or "0"


def _pool_cpu(run: dict[str, Any]) -> str:
    """CPU ms per frame: workers + Redis + this process (producers, reader, sampler)."""
    cpu = run.get("cpu_ms_per_frame") or {}
    parts = [cpu.get(name) for name in ("workers", "redis", "bench")]
    if None in parts:
        return "-"
    values = [float(p) for p in parts if p is not None]
    return f"{sum(values):.1f} ({' + '.join(f'{v:.1f}' for v in values)})"


def _reference_cpu(run: dict[str, Any]) -> str:
    if "cpu_fraction" not in run or not run["frames_per_s"]:
        return "-"
    processes = run.get("processes", 1)
    return f"{1000.0 * run['cpu_fraction'] * processes / run['frames_per_s']:.1f}"


def throughput_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| what | processes | frames/s | faces/s | frames/s per core | face recall | "
        "CPU ms/frame |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    pools = [("pool (RQ, Redis), saturation", w, r) for w, r in report["saturation"].items()]
    if report.get("batching_off"):
        off = report["batching_off"]
        pools.append(("pool, micro-batching off", str(off["workers"]), off))
    for what, workers, run in sorted(pools, key=lambda p: (int(p[1]), p[0])):
        n = int(workers)
        lines.append(
            f"| {what} | {n} | {run['frames_per_s']} | {run['faces_per_s']} | "
            f"{run['frames_per_s'] / n:.2f} | {run['face_recall']} | {_pool_cpu(run)} |"
        )
    references = report["references"]
    for n, run in sorted(references.get("floor", {}).items()):
        lines.append(
            f"| compute floor (no queue) | {n} | {run['frames_per_s']} | {run['faces_per_s']} | "
            f"{run['frames_per_s'] / int(n):.2f} | {run['face_recall']} | "
            f"{_reference_cpu(run)} |"
        )
    for key, what in (
        ("notebook", "notebook loop"),
        ("fer", "the `fer` package"),
        ("fer_keras", "the `fer` package, its Keras model"),
    ):
        run = references.get(key)
        if run and "skipped" not in run:
            lines.append(
                f"| {what} | 1 | {run['frames_per_s']} | {run['faces_per_s']} | "
                f"{run['frames_per_s']:.2f} | {run['face_recall']} | {_reference_cpu(run)} |"
            )
    return lines


def batching_lines(report: dict[str, Any]) -> list[str]:
    """What micro-batching buys: the largest pool's saturation with and without it."""
    off = report.get("batching_off")
    meta = report["meta"]
    if not off:
        return [
            f"Micro-batching: up to {meta.get('batch_max_frames', 1)} frame(s) per call; "
            "no comparison run."
        ]
    on = report["saturation"][str(off["workers"])]
    gain = on["frames_per_s"] / off["frames_per_s"] - 1.0
    return [
        f"Micro-batching (up to {meta['batch_max_frames']} frames per model call, max wait "
        f"{meta['batch_max_wait_s']:g} s): {off['workers']} workers saturate at "
        f"{on['frames_per_s']} frames/s with it and {off['frames_per_s']} without "
        f"({gain:+.0%}); worker CPU per frame {_cpu_of(on)} vs {_cpu_of(off)} ms; "
        f"{on.get('frames_per_model_call', '-')} frames per model call at saturation."
    ]


def _cpu_of(run: dict[str, Any]) -> str:
    value = (run.get("cpu_ms_per_frame") or {}).get("workers")
    return "-" if value is None else f"{value:.1f}"


def fairness_table(report: dict[str, Any]) -> list[str]:
    run = report.get("fairness")
    if not run:
        return ["Not run."]
    lines = [
        "| camera | offered f/s | submitted | processed | served | dropped | e2e p50 | p99 |",
        "| --- | ---: | ---: | ---: | ---: | --- | ---: | ---: |",
    ]
    for camera, c in run["cameras"].items():
        latency = c["latency_ms"]
        lines.append(
            f"| {camera} | {c['offered_fps']:g} | {c['submitted']} | {c['processed']} | "
            f"{c['processed'] / max(1, c['submitted']):.0%} | {reasons(c['dropped'])} | "
            f"{ms(latency['p50'])} | {ms(latency['p99'])} |"
        )
    return lines


def load_table(report: dict[str, Any]) -> list[str]:
    lines = [
        "| load | offered f/s | sent f/s | done f/s | e2e p50 | p95 | p99 | queue p95 | "
        "detect p50 | classify p50 | other p50 | dropped | failed | recall | accuracy | "
        "Redis max MiB | MiB/min settled | worker RSS MiB | identity |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- "
        "| ---: | ---: | ---: | ---: | --- | :-: |",
    ]
    for s in report["loads"]:
        latency, stages = s["latency_ms"], s["stage_ms"]
        growth = "-" if s["redis_growth_mb_per_min"] is None else s["redis_growth_mb_per_min"]
        lines.append(
            f"| {s['load_pct']}% | {s['offered_fps']} | {s['submitted_fps']} | "
            f"{s['processed_fps']} | {ms(latency['p50'])} | {ms(latency['p95'])} | "
            f"{ms(latency['p99'])} | {ms(stages['queue_wait']['p95'])} | "
            f"{ms(stages['detect']['p50'])} | {ms(stages['classify']['p50'])} | "
            f"{ms(s['overhead_ms']['p50'])} | {reasons(s['dropped'])} | "
            f"{reasons(s['failed'])} | {s['face_recall']} | {s['label_accuracy']} | "
            f"{s['redis_used_mb']['max']} | {growth} | "
            f"{', '.join(f'{v:.0f}' for v in s['worker_rss_mb'])} | "
            f"{'exact' if s['identity_holds'] else 'BROKEN'} |"
        )
    return lines


def accounting_table(report: dict[str, Any]) -> list[str]:
    """One row per run and camera; a run with more cameras than ``CAMERA_ROWS`` in one row."""
    lines = [
        "| run | camera | submitted | processed | dropped | failed | pending | results read "
        "| identity |",
        "| --- | --- | ---: | ---: | --- | --- | ---: | ---: | :-: |",
    ]
    for run in all_runs(report):
        rows: list[tuple[str, dict[str, Any]]] = list(run["cameras"].items())
        if len(rows) > CAMERA_ROWS:
            rows = [(f"{len(rows)} cameras", _summed([c for _, c in rows]))]
        for camera, c in rows:
            lines.append(
                f"| {run['run']} | {camera} | {c['submitted']} | {c['processed']} | "
                f"{reasons(c['dropped'])} | {reasons(c['failed'])} | {c['pending']} | "
                f"{c['results_read']} | {'exact' if c['identity_holds'] else 'BROKEN'} |"
            )
    return lines


def _summed(cameras: list[dict[str, Any]]) -> dict[str, Any]:
    """Several cameras' accounting as one: counts added, the identity holding for each."""
    total: dict[str, Any] = {"dropped": {}, "failed": {}}
    for key in ("submitted", "processed", "pending", "results_read"):
        total[key] = sum(c[key] for c in cameras)
    for key in ("dropped", "failed"):
        for c in cameras:
            for reason, amount in c[key].items():
                total[key][reason] = total[key].get(reason, 0) + amount
    total["identity_holds"] = all(c["identity_holds"] for c in cameras)
    return total
