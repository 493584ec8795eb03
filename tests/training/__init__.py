"""Helpers for the training tests: the real FER2013 folders and small copies of them.

Tests read the data set from ``Settings.from_env().data_dir`` (``FERSTREAM_DATA_DIR``)
and skip only when it is missing. Copies go to ``tmp_path``; nothing is committed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from common.settings import Settings
from common.wire import EMOTIONS


def fer_data_dir() -> Path:
    """The FER2013 class-folder tree, or a skip when this machine has none."""
    data = Settings.from_env().data_dir
    if not (data / "train").is_dir() or not (data / "test").is_dir():
        pytest.skip(f"FER2013 not found at {data} (set FERSTREAM_DATA_DIR)")
    return data


def fer_files(split: str, emotion: str, count: int) -> list[Path]:
    """The first ``count`` image files of one class of a split, in sorted order."""
    files = sorted((fer_data_dir() / split / emotion).iterdir())[:count]
    assert len(files) == count, f"expected {count} {split}/{emotion} files, got {len(files)}"
    return files


def copy_tree(destination: Path, per_class: int, split: str = "train") -> Path:
    """``destination/<emotion>/`` with ``per_class`` real faces of every emotion."""
    for emotion in EMOTIONS:
        (destination / emotion).mkdir(parents=True, exist_ok=True)
        for file in fer_files(split, emotion, per_class):
            shutil.copy(file, destination / emotion / file.name)
    return destination
