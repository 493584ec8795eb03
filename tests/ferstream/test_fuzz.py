"""``ferstream fuzz``: it counts every input it tries, and any finding fails the run."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner

from ferstream.cli import main
from ferstream.fuzz.campaign import CampaignReport, JobTally, Tally
from ferstream.fuzz.report import report_markdown
from ferstream.fuzz.targets import Outcome


def test_the_campaign_counts_every_input_and_writes_its_report(tmp_path: Path) -> None:
    ran = CliRunner().invoke(
        main, ["fuzz", "--examples", "30", "--seed", "3", "--out", str(tmp_path)]
    )

    assert ran.exit_code == 0, ran.output
    report = json.loads((tmp_path / "fuzz.json").read_text())
    assert report["clean"] is True
    decoders = {tally["target"]: tally for tally in report["decoders"]}
    assert {target: tally["inputs"] for target, tally in decoders.items()} == {
        "frame": 30,
        "result": 30,
        "image": 30,
    }
    for tally in decoders.values():
        assert sum(tally["outcomes"].values()) == 30 and tally["findings"] == {}
    jobs = report["jobs"]
    assert jobs["jobs"] == sum(jobs["kinds"].values()) == sum(jobs["counted"].values()) > 0
    assert (jobs["crashes"], jobs["unsettled"], jobs["unpickled"]) == ({}, [], 0)
    assert jobs["unknown_reasons"] == [] and jobs["unbounded_labels"] == {}
    markdown = (tmp_path / "fuzz.md").read_text()
    assert "| frame | 30 |" in markdown and "clean" in markdown


def finding(target: str, label: str, message: str) -> Tally:
    tally = Tally(target)
    tally.add(Outcome("SchemaError", True, "expected a msgpack map"))
    tally.add(Outcome(label, False, message))
    return tally


@pytest.mark.parametrize(
    ("decoders", "jobs", "says"),
    [
        ([finding("frame", "RecursionError", "maximum recursion depth")], JobTally(),
         "Finding in `frame`: RecursionError: maximum recursion depth"),
        ([], JobTally(jobs=1, crashes=Counter({"ValueError: bad status": 1})),
         "Worker crashes: 1 (ValueError: bad status 1)"),
        ([], JobTally(jobs=1, counted=Counter({"failed:Traceback (most recent": 1})),
         "all known: no, Traceback (most recent"),
        ([], JobTally(labels={"camera": ["fuzz-cam-0", "made-up-cam"]}),
         "out of bounds: {'camera': ['made-up-cam']}"),
        ([], JobTally(jobs=2, unpickled=1), "pickles unpickled: 1"),
        ([], JobTally(jobs=2, miscounted_bursts=1), "bursts miscounted: 1"),
    ],
    ids=["a decoder's finding", "a worker crash", "an unknown reason", "an unbounded label",
         "a pickle unpickled", "a burst miscounted"],
)  # fmt: skip
def test_any_finding_makes_the_run_unclean(
    decoders: list[Tally], jobs: JobTally, says: str
) -> None:
    report = CampaignReport(examples=1, seed=None, seconds=1.0, decoders=decoders, jobs=jobs)

    assert not report.clean
    markdown = report_markdown(report)
    assert "**FINDINGS**" in markdown
    assert says in markdown


def test_a_run_without_findings_is_clean() -> None:
    tally = Tally("image")
    tally.add(Outcome("InvalidFrame", True, "expected a JPEG frame header"))
    jobs = JobTally(jobs=1, bursts=1, counted=Counter({"failed:truncated": 1}))

    report = CampaignReport(1, 0, 1.0, [tally], jobs)

    assert report.clean
    assert ": clean." in report_markdown(report)
