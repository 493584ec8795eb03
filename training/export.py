"""Convert a ``.keras`` emotion model into the ``.tflite`` file that workers serve with LiteRT.

``python -m training.export MODEL.keras OUT.tflite`` (what a worker or pool runs, once per
model, when its converted file is missing) or ``ferstream export``. TensorFlow is needed
here and only here: a worker process itself imports neither TensorFlow nor Keras. The
file is written whole or not at all, so workers starting together never read half of one.
A model that cannot be loaded or has the wrong shapes exits with status 2 and one line
that says why.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import os
import sys
from pathlib import Path

from common.errors import ModelError


def convert(keras_path: Path) -> bytes:
    """The model at ``keras_path`` as a float32 TensorFlow Lite flatbuffer (any batch size)."""
    import tensorflow as tf

    from training.evaluate import load_model

    model = load_model(keras_path)
    converter = tf.lite.TFLiteConverter.from_keras_model(model)
    with contextlib.redirect_stdout(io.StringIO()):  # Keras prints its export's signature
        content: bytes = converter.convert()
    return content


def export_tflite(keras_path: Path, out_path: Path) -> Path:
    """Convert ``keras_path`` and write it to ``out_path`` atomically; returns ``out_path``."""
    content = convert(keras_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    partial = out_path.with_name(f".{out_path.name}.{os.getpid()}")
    try:
        partial.write_bytes(content)
        os.replace(partial, out_path)
    finally:
        partial.unlink(missing_ok=True)
    return out_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model", type=Path, help="the .keras model")
    parser.add_argument("out", type=Path, help="the .tflite file to write")
    args = parser.parse_args(argv)
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    try:
        export_tflite(args.model, args.out)
    except (ModelError, OSError) as exc:
        print(exc, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
