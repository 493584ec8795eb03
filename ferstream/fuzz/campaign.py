"""``ferstream fuzz``: hostile inputs, counted, against the decoders and a real worker.

Hypothesis draws the inputs (``ferstream.fuzz.messages``, ``images``, ``jobs``) and the
campaign only tallies what each did, so that one run reports every kind of finding
rather than stopping at the first. Targets:

- ``frame``: ``Frame.decode`` on any bytes a frame job could carry;
- ``result``: ``Result.decode`` on any bytes a results subscriber could receive;
- ``image``: the worker's image checks and decoder on any image a frame could claim;
- ``jobs``: bursts of hostile jobs served by a real ``FerWorker`` on an embedded Redis
  (never ``REDIS_URL``'s: each burst starts on a flushed database).

A run is clean when no decoder let out anything but its own error, the worker never
stopped, every job was settled and counted once under a known reason, no pickle was
unpickled, and the worker's metric labels kept within their bounds.
"""

from __future__ import annotations

import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

import hypothesis
from hypothesis import HealthCheck, Phase
from hypothesis import strategies as st

from common.connection import connect
from common.redis_server import EmbeddedRedis
from common.settings import Settings
from ferstream.fuzz import targets
from ferstream.fuzz.harness import Burst, JobHarness, known_reasons, label_bounds
from ferstream.fuzz.images import ClaimedImage, hostile_images
from ferstream.fuzz.jobs import MAX_BURST, HostileJob, bursts
from ferstream.fuzz.messages import hostile_frames, hostile_results
from ferstream.fuzz.targets import Outcome

T = TypeVar("T")
FUZZ_KEY_PREFIX = "ferstream-fuzz"


@dataclass
class Tally:
    """One decoder target: inputs tried, outcomes by label, the first of each finding."""

    target: str
    inputs: int = 0
    outcomes: Counter[str] = field(default_factory=Counter)
    findings: dict[str, str] = field(default_factory=dict)  # label -> a message

    def add(self, outcome: Outcome) -> None:
        self.inputs += 1
        self.outcomes[outcome.label] += 1
        if not outcome.allowed:
            self.findings.setdefault(outcome.label, outcome.message)


@dataclass
class JobTally:
    """The job target: jobs by kind, what the worker did with them, what it counted."""

    jobs: int = 0
    bursts: int = 0
    kinds: Counter[str] = field(default_factory=Counter)
    crashes: Counter[str] = field(default_factory=Counter)
    unsettled: list[str] = field(default_factory=list)
    counted: Counter[str] = field(default_factory=Counter)  # "failed:schema" -> jobs
    miscounted_bursts: int = 0  # bursts whose counters do not add up to their jobs
    unpickled: int = 0
    labels: dict[str, list[str]] = field(default_factory=dict)  # metric label -> values

    def add(self, jobs: list[HostileJob], burst: Burst) -> None:
        self.jobs += burst.jobs
        self.bursts += 1
        self.kinds.update(job.kind for job in jobs)
        self.crashes.update(burst.crashes)
        self.unsettled.extend(burst.unsettled)
        self.counted.update(burst.counted)
        self.miscounted_bursts += sum(burst.counted.values()) != burst.jobs
        self.unpickled += burst.unpickled

    @property
    def unknown_reasons(self) -> list[str]:
        reasons = {outcome.split(":", 1)[-1] for outcome in self.counted} - {"processed"}
        return sorted(reasons - known_reasons())

    @property
    def unbounded_labels(self) -> dict[str, list[str]]:
        bounds = label_bounds()
        over = {
            name: sorted(set(values) - bounds.get(name, frozenset()))
            for name, values in self.labels.items()
        }
        return {name: values for name, values in over.items() if values}


@dataclass
class CampaignReport:
    examples: int
    seed: int | None
    seconds: float
    decoders: list[Tally]
    jobs: JobTally

    @property
    def clean(self) -> bool:
        jobs = self.jobs
        return not (
            any(tally.findings for tally in self.decoders)
            or jobs.crashes
            or jobs.unsettled
            or jobs.miscounted_bursts
            or jobs.unpickled
            or jobs.unknown_reasons
            or jobs.unbounded_labels
        )


def drive(
    strategy: st.SearchStrategy[T], examples: int, seed: int | None, each: Callable[[T], Any]
) -> None:
    """Call ``each`` on ``examples`` values drawn from ``strategy`` (no shrinking: the
    campaign counts, it does not stop)."""

    @hypothesis.settings(
        max_examples=examples,
        database=None,
        deadline=None,
        phases=(Phase.generate,),
        suppress_health_check=list(HealthCheck),
    )
    @hypothesis.given(strategy)
    def run(value: T) -> None:
        each(value)

    if seed is not None:
        run = hypothesis.seed(seed)(run)
    run()


def fuzz_decoders(examples: int, seed: int | None) -> list[Tally]:
    frame, result, image = Tally("frame"), Tally("result"), Tally("image")
    drive(hostile_frames(), examples, seed, lambda data: frame.add(targets.decode_frame(data)))
    drive(hostile_results(), examples, seed, lambda data: result.add(targets.decode_result(data)))

    def one_image(claimed: ClaimedImage) -> None:
        image.add(targets.decode_image(claimed))

    drive(hostile_images(), examples, seed, one_image)
    return [frame, result, image]


def fuzz_jobs(harness: JobHarness, count: int, seed: int | None) -> JobTally:
    """``count`` bursts of hostile jobs through ``harness``'s worker."""
    tally = JobTally()
    drive(bursts(harness.trap), count, seed, lambda burst: tally.add(burst, harness.run(burst)))
    tally.labels = {name: sorted(values) for name, values in harness.labels().items()}
    return tally


def run_campaign(
    settings: Settings, examples: int, seed: int | None = None, say: Callable[[str], None] = print
) -> CampaignReport:
    """``examples`` inputs per decoder target, and about as many jobs through a worker."""
    from worker.runtime import load_pipeline  # the model: only once the decoders are done

    started = time.perf_counter()
    say(f"fuzzing the decoders: {examples} inputs each ...")
    with _native_stderr_silenced():
        decoders = fuzz_decoders(examples, seed)
    with EmbeddedRedis() as server:
        settings = settings.with_changes(redis_url=server.url, key_prefix=FUZZ_KEY_PREFIX)
        say(f"fuzzing a real worker on an embedded Redis ({server.url}) ...")
        connection = connect(server.url)
        harness = JobHarness(connection, settings, load_pipeline(settings, "fuzz"))
        try:
            with _native_stderr_silenced():
                jobs = fuzz_jobs(harness, max(1, round(examples * 2 / (MAX_BURST + 1))), seed)
        finally:
            harness.close()
            connection.close()
    return CampaignReport(examples, seed, time.perf_counter() - started, decoders, jobs)


@contextmanager
def _native_stderr_silenced() -> Iterator[None]:
    """libpng and libjpeg print a line for each broken image they are given: thousands
    here. What each input did is in the report instead."""
    sys.stderr.flush()
    saved, quiet = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(quiet, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(quiet)
