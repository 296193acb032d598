# syntax=docker/dockerfile:1
# Production image: build a wheel in one stage, install it into a slim runtime as non-root.
# Migrations are a separate command: `docker run IMAGE rujukan db upgrade`.

FROM python:3.11-slim-bookworm AS build
WORKDIR /src
ENV PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1
COPY pyproject.toml README.md ./
COPY app ./app
RUN python -m pip wheel --wheel-dir /wheels .

FROM python:3.11-slim-bookworm AS runtime
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1
RUN groupadd --system --gid 10001 rujukan \
    && useradd --system --uid 10001 --gid rujukan --home-dir /srv/rujukan --create-home rujukan
WORKDIR /srv/rujukan
COPY --from=build /wheels /wheels
RUN python -m pip install /wheels/*.whl && rm -rf /wheels
COPY --chown=rujukan:rujukan migrations ./migrations
# Served at /guides (app/ops/guides.py).
COPY --chown=rujukan:rujukan docs ./docs
USER 10001:10001
EXPOSE 8000
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2).status == 200 else 1)"]
CMD ["rujukan", "serve", "--host", "0.0.0.0", "--port", "8000"]
