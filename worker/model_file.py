"""Which ``.tflite`` file a worker serves, converted from the ``.keras`` model when missing.

The ``.keras`` file is the one model the project ships and names (``model_path``). Workers
serve its TensorFlow Lite conversion through LiteRT, so a worker process never imports
TensorFlow or Keras. The conversion lives in the cache folder under the Keras file's
model id (its name and content hash): a changed model gets a new file, and a stale one is
never served. When it is missing, ``training.export`` writes it in a child process (~10 s,
once per model and host; the Dockerfile and ``./dev setup`` do it ahead of time), and
that process's TensorFlow memory goes with it. ``model_path`` may also name a ``.tflite``
file directly, which is then served as it is.
"""

from __future__ import annotations

import hashlib
import logging
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from common.errors import ModelError

log = logging.getLogger(__name__)

TFLITE_SUFFIX = ".tflite"
CONVERSION_TIMEOUT_SECONDS = 600
CACHE_UNUSED_DAYS = 30


@dataclass(frozen=True)
class ServingModel:
    path: Path  # the .tflite file to load
    model_id: str  # names the shipped model: ``<stem>-<12 hex digits of its SHA-256>``


def model_id_of(path: Path) -> str:
    """``<file stem>-<first 12 hex digits of its SHA-256>``: names exactly one model file."""
    digest = hashlib.sha256(path.read_bytes()).hexdigest()[:12]
    return f"{path.stem}-{digest}"


def serving_model(model_path: Path, cache_dir: Path | None) -> ServingModel:
    """The ``.tflite`` file for ``model_path``, converting it first if no converted copy exists."""
    model_path = Path(model_path)
    if not model_path.is_file():
        raise ModelError(f"expected a .keras or .tflite model file, got missing path {model_path}")
    model_id = model_id_of(model_path)
    if model_path.suffix == TFLITE_SUFFIX:
        return ServingModel(model_path, model_id)
    folder = cache_dir if cache_dir is not None else Path(tempfile.gettempdir()) / "ferstream"
    converted = folder / f"{model_id}{TFLITE_SUFFIX}"
    if converted.is_file():
        _mark_used(converted)
    else:
        convert_in_child(model_path, converted)
        prune_unused(folder, keep=converted, days=CACHE_UNUSED_DAYS)
    return ServingModel(converted, model_id)


def convert_in_child(model_path: Path, out_path: Path) -> None:
    """Run ``training.export`` in a child process; its TensorFlow never enters this one."""
    log.info("converting %s for LiteRT into %s (once per model)", model_path, out_path)
    started = time.monotonic()
    try:
        done = subprocess.run(
            [sys.executable, "-m", "training.export", str(model_path), str(out_path)],
            capture_output=True,
            text=True,
            timeout=CONVERSION_TIMEOUT_SECONDS,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        raise ModelError(f"converting {model_path} took over {exc.timeout:g} s") from exc
    if done.returncode != 0 or not out_path.is_file():
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        reason = lines[-1] if lines else f"exit status {done.returncode}"
        raise ModelError(f"cannot convert model {model_path}: {reason}")
    log.info("converted %s in %.1f s", model_path.name, time.monotonic() - started)


def prune_unused(folder: Path, keep: Path, days: float) -> list[Path]:
    """Delete the converted models in ``folder`` but ``keep`` not loaded for ``days`` days.

    Returns what was deleted. A worker that still wants one converts it again.
    """
    cutoff = time.time() - days * 86400
    pruned = []
    for path in folder.glob(f"*{TFLITE_SUFFIX}"):
        try:
            if path != keep and path.stat().st_mtime < cutoff:
                path.unlink()
                pruned.append(path)
        except OSError as exc:  # gone already, or not ours to delete
            log.warning("could not prune the converted model %s: %s", path, exc)
    if pruned:
        log.info("pruned %d converted models unused for %g days", len(pruned), days)
    return pruned


def _mark_used(path: Path) -> None:
    """Renew ``path``'s time, so that pruning keeps it (a read-only cache stays as it is)."""
    try:
        os.utime(path)
    except OSError as exc:
        log.debug("cannot renew the time of %s: %s", path, exc)
