"""``python -m worker``: one worker process, configured from the environment (see Settings)."""

from __future__ import annotations

import argparse
import logging

from common.settings import Settings
from worker.process import run_worker


def main() -> None:
    parser = argparse.ArgumentParser(description="Run one ferstream worker process.")
    parser.add_argument("--name", help="worker name (default: host.pid)")
    parser.add_argument("--burst", action="store_true", help="exit when the queue is empty")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    run_worker(Settings.from_env(), name=args.name, burst=args.burst)


if __name__ == "__main__":
    main()
