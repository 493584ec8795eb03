"""``python -m worker.healthcheck``: exit 0 if this host's worker pool is healthy.

Healthy: the pool's metrics endpoint answers, Redis answered that scrape, and at least
one worker of the pool is registered (its model is loaded by then). Used as the worker
container's healthcheck; imports neither TensorFlow nor OpenCV.
"""

from __future__ import annotations

import sys
import urllib.request

from prometheus_client.parser import text_string_to_metric_families

from common.settings import Settings

TIMEOUT_SECONDS = 3.0


def check(url: str, timeout: float = TIMEOUT_SECONDS) -> str | None:
    """None if the pool behind ``url`` is healthy, else what is wrong."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            text = response.read().decode()
    except OSError as exc:
        return f"metrics endpoint {url}: expected an answer, got {exc}"
    values: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ferstream_broker_up":
                values["broker_up"] = sample.value
            elif sample.name == "ferstream_workers" and sample.labels.get("state") != "suspended":
                values["workers"] = values.get("workers", 0.0) + sample.value
    if values.get("broker_up") != 1.0:
        return "expected ferstream_broker_up 1, got Redis not answering"
    if values.get("workers", 0.0) < 1:
        return "expected at least 1 registered worker, got 0 (still loading the model?)"
    return None


def main() -> None:
    port = Settings.from_env().metrics_port
    if port == 0:
        sys.exit("FERSTREAM_METRICS_PORT is 0: no endpoint to check")
    problem = check(f"http://127.0.0.1:{port}/metrics")
    if problem:
        sys.exit(problem)


if __name__ == "__main__":
    main()
