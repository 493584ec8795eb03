# ferstream image: workers and producers (CPU TensorFlow, the shipped model baked in).
#   docker build -t ferstream:local .     (docker-compose.yml builds it for you)
# The install is the README's, without the editable flag and the dev tools: `pip install .`.
# The `tensorflow` wheel from PyPI runs on the CPU; no CUDA libraries are installed.
FROM python:3.11-slim-bookworm

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    FERSTREAM_MODEL_PATH=/app/models/ferstream-mnv2.keras \
    FERSTREAM_DATA_DIR=/data/fer2013

WORKDIR /src
COPY pyproject.toml README.md ./
COPY common/ common/
COPY producer/ producer/
COPY worker/ worker/
COPY training/ training/
COPY ferstream/ ferstream/
RUN pip install . && rm -rf /src

WORKDIR /app
COPY models/ferstream-mnv2.keras models/ferstream-mnv2.keras
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin ferstream
USER ferstream
# Convert the model for TensorFlow Lite once, at build, into the user's cache
# (FERSTREAM_CACHE_DIR): worker containers then load it in ~1 s instead of ~10 s.
RUN python -c "from common.settings import Settings; from worker.runtime import load_pipeline; \
load_pipeline(Settings.from_env(), 'image-build')"

# 9100: a worker pool's metrics (FERSTREAM_METRICS_PORT); 9101: a producer's (--metrics-port)
EXPOSE 9100 9101
CMD ["ferstream", "worker"]
