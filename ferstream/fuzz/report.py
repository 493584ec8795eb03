"""A fuzz campaign's report: printed, and written as JSON and markdown."""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import fields
from pathlib import Path
from typing import Any

from ferstream.fuzz.campaign import CampaignReport, JobTally, Tally


def _plain(tally: Tally | JobTally) -> dict[str, Any]:
    """A tally's fields, its counters as plain dicts (``asdict`` garbles a ``Counter``)."""
    return {
        each.name: dict(value) if isinstance(value, Counter) else value
        for each in fields(tally)
        for value in [getattr(tally, each.name)]
    }


def report_json(report: CampaignReport) -> dict[str, Any]:
    jobs = report.jobs
    return {
        "clean": report.clean,
        "examples": report.examples,
        "seed": report.seed,
        "seconds": round(report.seconds, 1),
        "decoders": [_plain(tally) for tally in report.decoders],
        "jobs": {
            **_plain(jobs),
            "reasons": len({outcome for outcome in jobs.counted if outcome != "processed"}),
            "unknown_reasons": jobs.unknown_reasons,
            "unbounded_labels": jobs.unbounded_labels,
        },
    }


def _counts(counter: dict[str, int]) -> str:
    return ", ".join(f"{name} {n}" for name, n in sorted(counter.items())) or "-"


def report_markdown(report: CampaignReport) -> str:
    jobs = report.jobs
    verdict = "clean" if report.clean else "**FINDINGS**"
    lines = [
        "# ferstream fuzz",
        "",
        f"{report.examples} examples per target, seed {report.seed}, "
        f"{report.seconds:.0f} s: {verdict}.",
        "",
        "| target | inputs tried | outcomes | findings |",
        "| --- | ---: | --- | --- |",
        *(
            f"| {tally.target} | {tally.inputs} | {_counts(tally.outcomes)} | "
            f"{_counts({label: 1 for label in tally.findings}) if tally.findings else 0} |"
            for tally in report.decoders
        ),
        f"| jobs (real worker, {jobs.bursts} bursts) | {jobs.jobs} | {_counts(jobs.counted)} | "
        f"{sum(jobs.crashes.values())} worker crashes |",
        "",
        f"- Jobs by kind: {_counts(jobs.kinds)}.",
        f"- Worker crashes: {sum(jobs.crashes.values())} ({_counts(jobs.crashes)}); jobs left "
        f"unsettled: {len(jobs.unsettled)}; bursts miscounted: {jobs.miscounted_bursts}; "
        f"pickles unpickled: {jobs.unpickled}.",
        f"- Reasons counted: {len({o for o in jobs.counted if o != 'processed'})}, all known: "
        f"{'yes' if not jobs.unknown_reasons else 'no, ' + ', '.join(jobs.unknown_reasons)}.",
        "- Metric labels: "
        + "; ".join(f"{name} {len(values)}" for name, values in sorted(jobs.labels.items()))
        + f" values; out of bounds: {jobs.unbounded_labels or 'none'}.",
    ]
    for tally in report.decoders:
        for label, message in sorted(tally.findings.items()):
            lines.append(f"- Finding in `{tally.target}`: {label}: {message}")
    return "\n".join(lines) + "\n"


def write_report(report: CampaignReport, out: Path) -> list[Path]:
    """``fuzz.json`` and ``fuzz.md`` in ``out``; their paths."""
    out.mkdir(parents=True, exist_ok=True)
    as_json, as_markdown = out / "fuzz.json", out / "fuzz.md"
    as_json.write_text(json.dumps(report_json(report), indent=2, sort_keys=True) + "\n")
    as_markdown.write_text(report_markdown(report))
    return [as_json, as_markdown]
