# ferstream image: workers and producers (the shipped model baked in, converted for LiteRT;
# TensorFlow is installed for that conversion and for training, never loaded by a worker).
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
COPY tracking/ tracking/
COPY training/ training/
COPY ferstream/ ferstream/
COPY web/ web/
RUN pip install . && rm -rf /src

WORKDIR /app
COPY models/ferstream-mnv2.keras models/ferstream-mnv2.keras
RUN useradd --create-home --uid 10001 --shell /usr/sbin/nologin ferstream
USER ferstream
# Convert the model for LiteRT once, at build, into the user's cache (FERSTREAM_CACHE_DIR):
# worker processes load that file and never import TensorFlow (~1 s to ready, ~150 MiB).
RUN ferstream export

# 9100: a worker pool's metrics (FERSTREAM_METRICS_PORT); 9101: a producer's (--metrics-port);
# 9102: the track service's (ferstream track --metrics-port); 8090: the live view (ferstream web)
EXPOSE 9100 9101 9102 8090
CMD ["ferstream", "worker"]
