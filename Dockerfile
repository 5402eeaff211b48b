# reach-server container image: runtime dependencies only, non-root, `reach` on PATH.
#
#   podman build -t reach-server .            (or docker build; BASE_IMAGE picks the base)
#   podman run -p 8000:8000 -e REACH_DATABASE_URL=... -e REACH_SECRET_KEY=... reach-server
#
# The default command serves on 0.0.0.0:8000 (REACH_HOST / REACH_PORT change it); the embedded
# SQLite database lives in the /data volume. See compose.yaml for PostgreSQL with a worker.
ARG BASE_IMAGE=python:3.11-slim-bookworm

FROM ${BASE_IMAGE} AS build
# A package mirror, or a CA bundle for a TLS-intercepting proxy (mounted with --volume), when
# the build needs them; empty = pip's defaults. Build stage only: not in the final image.
ARG PIP_INDEX_URL=
ARG PIP_CERT=
# The hash-locked runtime requirements only: no compilers, linters or test tools in the image.
COPY requirements/runtime.txt /src/requirements/runtime.txt
RUN [ -n "$PIP_INDEX_URL" ] || unset PIP_INDEX_URL; [ -n "$PIP_CERT" ] || unset PIP_CERT; \
    python3 -m venv /opt/reach \
    && /opt/reach/bin/pip install --no-cache-dir --disable-pip-version-check \
        --require-hashes -r /src/requirements/runtime.txt
COPY pyproject.toml README.md LICENSE /src/
COPY src /src/src
RUN /opt/reach/bin/pip install --no-cache-dir --disable-pip-version-check \
        --no-deps --no-build-isolation /src \
    && /opt/reach/bin/pip uninstall --yes --disable-pip-version-check pip setuptools wheel

FROM ${BASE_IMAGE}
COPY --from=build /opt/reach /opt/reach
RUN useradd --system --uid 10001 --home-dir /data --create-home --shell /usr/sbin/nologin reach
ENV PATH=/opt/reach/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    REACH_HOST=0.0.0.0 \
    REACH_PORT=8000 \
    REACH_DATABASE_URL=sqlite:////data/reach.db \
    REACH_DEMO_ON_FIRST_RUN=false
USER reach
WORKDIR /data
VOLUME /data
EXPOSE 8000
# Liveness only (touches no database); /readyz is for the load balancer.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD python3 -c "import os, urllib.request as u; u.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('REACH_PORT', '8000'), timeout=4)"
CMD ["reach", "serve"]
