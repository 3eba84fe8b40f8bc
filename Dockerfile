# syntax=docker/dockerfile:1
# One image for every role: the entry point is `switchyard`, the command picks the role
# (`proxy`, `ingest`, `dashboard`, `jobs`, `store migrate`, …). See docs/deploy.md.
#
#   docker build -t switchyard .
#   docker run --rm -p 4000:4000 -e SWITCHYARD_UPSTREAM_API_KEY=… switchyard proxy --host 0.0.0.0
#
# Any Debian-based image with python3 (≥ 3.11) and its venv module works as the base; the same one
# must be used for both stages (the virtualenv points at its interpreter).
ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# ---- build: resolve nothing, install the locked, hash-checked versions into a virtualenv -------
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
RUN python3 -m venv /opt/switchyard
# Dependencies first, in their own layer: it is rebuilt only when the lock changes.
COPY requirements/runtime.txt requirements/runtime.txt
RUN /opt/switchyard/bin/pip install --require-hashes --only-binary=:all: -r requirements/runtime.txt
COPY pyproject.toml README.md ./
COPY core core
COPY store store
COPY ingest ingest
COPY evals evals
COPY optimizer optimizer
COPY dashboard dashboard
COPY proxy proxy
COPY serving serving
COPY signin signin
COPY sim sim
COPY switchyard switchyard
# The project as a wheel (not editable: the source tree stays in this stage), then byte-compiled
# so a read-only root filesystem costs no import time.
RUN /opt/switchyard/bin/pip wheel --no-deps --wheel-dir /tmp/wheels . \
 && /opt/switchyard/bin/pip install --no-deps /tmp/wheels/*.whl \
 && /opt/switchyard/bin/pip check \
 && /opt/switchyard/bin/python -m compileall -q /opt/switchyard/lib

# ---- runtime: the interpreter, the virtualenv, nothing else -----------------------------------
FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 switchyard \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/switchyard --no-create-home \
            --shell /usr/sbin/nologin switchyard \
 && mkdir -p /var/lib/switchyard \
 && chown 10001:10001 /var/lib/switchyard \
 && chmod 700 /var/lib/switchyard
COPY --from=build /opt/switchyard /opt/switchyard
# Everything switchyard writes (SQLite, the turn journal, keys, the audit key, logs) goes under
# SWITCHYARD_DATA_DIR, a volume; /tmp is the only other writable path a read-only root needs.
ENV PATH=/opt/switchyard/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/var/lib/switchyard \
    SWITCHYARD_DATA_DIR=/var/lib/switchyard \
    SWITCHYARD_SPOOL_DIR=/var/lib/switchyard/spool \
    SWITCHYARD_KEYS_FILE=/var/lib/switchyard/keys.json \
    SWITCHYARD_HEALTHCHECK_URL=http://127.0.0.1:4000/healthz
WORKDIR /var/lib/switchyard
VOLUME ["/var/lib/switchyard"]
USER 10001:10001
EXPOSE 4000 4318 8050
# Each role answers /healthz on its own port: set SWITCHYARD_HEALTHCHECK_URL per container
# (ingest :4318, dashboard :8050); the proxy's is the default. No curl in a slim image: Python's.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["python3", "-c", "import os, urllib.request; urllib.request.urlopen(os.environ['SWITCHYARD_HEALTHCHECK_URL'], timeout=4)"]
ENTRYPOINT ["switchyard"]
CMD ["--help"]
