"""The shipped MobileNetV2 as workers serve it (LiteRT), on real FER2013 test faces."""

from __future__ import annotations

import copy
import hashlib
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import cv2
import numpy as np
import pytest

from common.errors import ModelError
from common.settings import Settings
from common.wire import EMOTIONS
from producer.scenes import index_faces
from worker.classifier import LiteRtEmotionClassifier
from worker.model_file import model_id_of, serving_model

SAMPLE = 100
CHANCE = 1 / len(EMOTIONS)
MIN_ACCURACY = 0.35  # 2.5x chance, far below any model worth shipping


@pytest.fixture(scope="module")
def fer_faces(fer_data_dir: Path) -> tuple[np.ndarray, np.ndarray]:
    """100 real test faces drawn at random (fixed seed) from every class, and their labels."""
    faces = index_faces(fer_data_dir, "test")
    chosen = np.random.default_rng(0).choice(len(faces), SAMPLE, replace=False)
    images = np.stack([cv2.imread(str(faces[i].path), cv2.IMREAD_GRAYSCALE) for i in chosen])
    return images.astype(np.uint8), np.array([faces[i].label for i in chosen])


def test_each_face_gets_a_probability_row(
    emotion_classifier: LiteRtEmotionClassifier, fer_faces: tuple[np.ndarray, np.ndarray]
) -> None:
    probabilities = emotion_classifier.classify(fer_faces[0][:10])

    assert probabilities.shape == (10, len(EMOTIONS))
    assert probabilities.dtype == np.float32
    assert np.all((probabilities >= 0) & (probabilities <= 1))
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, atol=1e-3)


def test_no_faces_is_an_empty_result(emotion_classifier: LiteRtEmotionClassifier) -> None:
    probabilities = emotion_classifier.classify(np.empty((0, 48, 48), np.uint8))

    assert probabilities.shape == (0, len(EMOTIONS))
    assert probabilities.dtype == np.float32


def test_one_batch_equals_one_call_per_face(
    emotion_classifier: LiteRtEmotionClassifier, fer_faces: tuple[np.ndarray, np.ndarray]
) -> None:
    faces = fer_faces[0][:6]
    batched = emotion_classifier.classify(faces)
    one_by_one = np.concatenate([emotion_classifier.classify(face[np.newaxis]) for face in faces])

    np.testing.assert_allclose(batched, one_by_one, atol=1e-5)


def test_flip_tta_is_the_mean_of_plain_and_mirrored(
    emotion_classifier: LiteRtEmotionClassifier, fer_faces: tuple[np.ndarray, np.ndarray]
) -> None:
    faces = fer_faces[0][:6]
    with_tta = copy.copy(emotion_classifier)  # the same loaded model, TTA switched on
    with_tta.flip_tta = True

    expected = (
        emotion_classifier.classify(faces) + emotion_classifier.classify(faces[:, :, ::-1])
    ) / 2
    np.testing.assert_allclose(with_tta.classify(faces), expected, atol=1e-5)
    assert not np.allclose(emotion_classifier.classify(faces), expected, atol=1e-3)


def test_accuracy_on_real_faces_is_well_above_chance(
    emotion_classifier: LiteRtEmotionClassifier, fer_faces: tuple[np.ndarray, np.ndarray]
) -> None:
    faces, labels = fer_faces
    predicted = emotion_classifier.classify(faces).argmax(axis=1)

    accuracy = float((predicted == labels).mean())
    assert accuracy > MIN_ACCURACY, (
        f"accuracy {accuracy:.2f} on {SAMPLE} faces, chance {CHANCE:.2f}"
    )
    assert len(set(predicted.tolist())) >= 3  # not one class for everything


def test_faces_of_the_wrong_size_are_refused(emotion_classifier: LiteRtEmotionClassifier) -> None:
    with pytest.raises(ValueError, match=r"expected \(N, 48, 48\) faces, got \(2, 64, 64\)"):
        emotion_classifier.classify(np.zeros((2, 64, 64), np.uint8))


def _tiny_model(path: Path, input_shape: tuple[int, ...], outputs: int) -> Path:
    import keras

    path.parent.mkdir(parents=True, exist_ok=True)
    model = keras.Sequential(
        [
            keras.Input(input_shape),
            keras.layers.Flatten(),
            keras.layers.Dense(outputs, activation="softmax"),
        ]
    )
    model.save(path)
    return path


def _write(path: Path, data: bytes) -> Path:
    path.write_bytes(data)
    return path


@pytest.mark.filterwarnings("ignore:__array__ implementation:DeprecationWarning")  # keras saving
@pytest.mark.parametrize(
    ("make", "says"),
    [
        (
            lambda d: d / "missing.keras",
            "expected a .keras or .tflite model file, got missing path",
        ),
        (lambda d: _write(d / "garbage.keras", b"not a zip"), "cannot convert model .*garbage"),
        (lambda d: _write(d / "garbage.tflite", b"not a flatbuffer"), "cannot load model"),
        (
            lambda d: _tiny_model(d / "five.keras", (48, 48, 1), 5),
            r"expected a model \(None, 48, 48, 1\) -> \(None, 7\), got .* -> \(None, 5\)",
        ),
        (
            lambda d: _tiny_model(d / "rgb.keras", (48, 48, 3), 7),
            r"got \(None, 48, 48, 3\) -> \(None, 7\)",
        ),
    ],
    ids=["missing file", "not a model", "not a flatbuffer", "five outputs", "colour input"],
)
def test_unusable_models_are_model_errors(
    make: Callable[[Path], Path], says: str, tmp_path: Path
) -> None:
    path = make(tmp_path)

    with pytest.raises(ModelError, match=says):
        LiteRtEmotionClassifier.from_model_file(path, cache_dir=tmp_path / "cache")


def test_model_id_names_the_file_contents(
    emotion_classifier: LiteRtEmotionClassifier, settings: Settings, tmp_path: Path
) -> None:
    shipped = settings.model_path
    digest = hashlib.sha256(shipped.read_bytes()).hexdigest()[:12]

    assert emotion_classifier.model_id == model_id_of(shipped) == f"{shipped.stem}-{digest}"
    copied = tmp_path / "copy" / shipped.name
    copied.parent.mkdir()
    shutil.copy(shipped, copied)
    assert model_id_of(copied) == emotion_classifier.model_id  # same bytes, same id
    changed = tmp_path / "changed" / shipped.name
    changed.parent.mkdir()
    changed.write_bytes(shipped.read_bytes() + b"\0")
    assert model_id_of(changed) != emotion_classifier.model_id  # same name, other bytes


def test_litert_gives_the_keras_models_probabilities(
    emotion_classifier: LiteRtEmotionClassifier,
    fer_faces: tuple[np.ndarray, np.ndarray],
    settings: Settings,
) -> None:
    from training.evaluate import load_model, predict_probabilities

    keras_model = load_model(settings.model_path)
    faces = fer_faces[0]
    for count in (1, 5, 100, 3):  # batch sizes change between calls, as in a worker
        np.testing.assert_allclose(
            emotion_classifier.classify(faces[:count]),
            predict_probabilities(keras_model, faces[:count]),
            atol=1e-4,
        )


def test_the_conversion_is_cached_under_the_model_id_and_old_ones_are_pruned(
    emotion_classifier: LiteRtEmotionClassifier,
    fer_faces: tuple[np.ndarray, np.ndarray],
    settings: Settings,
    tmp_path: Path,
) -> None:
    faces = fer_faces[0][:4]
    long_ago = time.time() - 40 * 86400
    unused = tmp_path / "an-older-model-0123456789ab.tflite"
    recent = tmp_path / "another-deployments-model-0123456789ab.tflite"
    for path in (unused, recent):
        path.write_bytes(b"a model")
    os.utime(unused, (long_ago, long_ago))
    first = serving_model(settings.model_path, tmp_path)
    assert first.path == tmp_path / f"{emotion_classifier.model_id}.tflite"
    assert first.path.stat().st_size > 100_000
    assert not unused.exists() and recent.exists()  # pruned: not loaded for 30 days

    os.utime(first.path, (long_ago, long_ago))
    second = serving_model(settings.model_path, tmp_path)
    assert second == first and first.path.stat().st_mtime > long_ago + 86400  # loading renews it
    served = LiteRtEmotionClassifier(second)
    np.testing.assert_allclose(
        served.classify(faces), emotion_classifier.classify(faces), atol=1e-6
    )


def test_a_tflite_file_is_served_as_it_is(
    emotion_classifier: LiteRtEmotionClassifier,
    fer_faces: tuple[np.ndarray, np.ndarray],
    settings: Settings,
    tmp_path: Path,
) -> None:
    converted = serving_model(settings.model_path, settings.cache_dir).path
    own = tmp_path / "mine.tflite"
    shutil.copy(converted, own)

    served = LiteRtEmotionClassifier.from_model_file(own, cache_dir=tmp_path / "unused")
    assert served.model_id == model_id_of(own)
    assert not (tmp_path / "unused").exists()
    np.testing.assert_allclose(
        served.classify(fer_faces[0][:3]), emotion_classifier.classify(fer_faces[0][:3]), atol=1e-6
    )


def test_a_worker_process_loads_neither_tensorflow_nor_keras(settings: Settings) -> None:
    serving_model(settings.model_path, settings.cache_dir)  # converted already, as in a pool
    script = (
        "import sys\n"
        "from common.settings import Settings\n"
        "from worker.process import configure_threads\n"
        "from worker.runtime import load_pipeline\n"
        "configure_threads(1)\n"
        "pipeline = load_pipeline(Settings.from_env(), 'probe')\n"
        "import numpy as np\n"
        "pipeline.classifier.classify(np.zeros((2, 48, 48), np.uint8))\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))\n"
    )
    env = {**os.environ, **settings.to_env()}
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=120
    )

    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"
