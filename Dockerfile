# Container image for the service.
#   build:  docker build -t service .      (or: podman build --format docker -t service .)
#   run:    docker run --env-file .env -p 8000:8000 service
#   migrate (only when asked, never at import): docker run --env-file .env service service init-db
# Configuration comes only from environment variables (see .env.example / API.md "Settings").

# ---- build stage: a virtual environment from the hash-pinned lock file --------------------
FROM python:3.11-slim-bookworm AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1

WORKDIR /src

# binutils' strip, for the build stage only: the wheels' extension modules carry debug
# symbols (about 19 MB). This stage is thrown away, so its apt packages are not pinned.
# hadolint ignore=DL3008
RUN apt-get update \
    && apt-get install -y --no-install-recommends binutils \
    && rm -rf /var/lib/apt/lists/*

# Dependencies first (own layer: rebuilt only when the lock file changes). Then strip the
# extension modules, and drop what /docs never serves from the Swagger UI wheel (the
# Swagger Editor, the ES-module builds, source maps): about 30 MB in all.
COPY requirements.lock ./
RUN python -m venv /opt/venv \
    && /opt/venv/bin/pip install --require-hashes --no-deps -r requirements.lock \
    && find /opt/venv -name '*.so' -exec strip --strip-unneeded {} + \
    && find /opt/venv -name '*.map' -delete \
    && rm -f /opt/venv/lib/python3.11/site-packages/swagger_ui/static/swagger-editor* \
             /opt/venv/lib/python3.11/site-packages/swagger_ui/static/swagger-ui-es-bundle*

# Then the project itself (non-editable), and drop pip/setuptools: the runtime needs neither.
COPY pyproject.toml README.md ./
COPY service ./service
RUN /opt/venv/bin/pip install --no-deps . \
    && /opt/venv/bin/pip uninstall --yes pip setuptools

# ---- runtime stage: the slim base + the venv, no compilers, no caches ----------------------
FROM python:3.11-slim-bookworm AS runtime

ENV PATH=/opt/venv/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    APP_ENV=production \
    HOST=0.0.0.0 \
    PORT=8000 \
    WORKERS=1 \
    LOG_FORMAT=json

# A fixed numeric uid/gid, so Kubernetes' runAsNonRoot can verify it.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --home-dir /app --no-create-home \
       --shell /usr/sbin/nologin app

WORKDIR /app
COPY --from=build /opt/venv /opt/venv
# Alembic reads alembic.ini and alembic/ relative to the working directory (`service init-db`).
COPY alembic.ini ./
COPY alembic ./alembic

USER 10001:10001
EXPOSE 8000

# Liveness only (touches no backend). curl is not in the slim image: use Python's urllib.
HEALTHCHECK --interval=10s --timeout=3s --start-period=15s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/health' % os.environ.get('PORT', '8000'), timeout=2)"]

# Exec form: the server is the container's main process and receives SIGTERM directly;
# uvicorn then stops accepting connections and lets in-flight requests finish.
CMD ["service", "run"]
