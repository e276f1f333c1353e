# The gateway's image: `docker build --build-arg GATEWAY_COMMIT=$(git rev-parse --short HEAD) -t channel-gateway .`
# One image for every process: `serve` (default), `worker`, `migrate`, `mock-core`, any CLI command
# (deploy/README.md#containers). The dependencies come from requirements.lock, hashes checked.
ARG PYTHON_VERSION=3.11

# --- builder: a venv with the locked dependencies, then the gateway (no resolution of its own) ---
FROM python:${PYTHON_VERSION}-slim AS builder
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/gateway
WORKDIR /src
COPY requirements.lock ./
RUN /opt/gateway/bin/pip install --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY gateway ./gateway
COPY channels ./channels
COPY identity ./identity
COPY approvals ./approvals
RUN /opt/gateway/bin/pip install --no-deps . && /opt/gateway/bin/pip check
# Bytecode without docstrings and asserts, for PYTHONOPTIMIZE=2 below: ~7 MB less per process
# (docs/operations.md#memory); the image writes no bytecode at run time.
RUN /opt/gateway/bin/python -OO -m compileall -q /opt/gateway/lib

# --- final: the venv alone, run by an unprivileged user ---------------------------------------
FROM python:${PYTHON_VERSION}-slim
ARG GATEWAY_COMMIT=""
ENV PATH=/opt/gateway/bin:$PATH \
    PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONOPTIMIZE=2 \
    GATEWAY_COMMIT=${GATEWAY_COMMIT}
RUN groupadd --system --gid 10001 gateway \
    && useradd --system --uid 10001 --gid gateway --home-dir /var/lib/gateway --create-home gateway
COPY --from=builder /opt/gateway /opt/gateway
USER 10001:10001
WORKDIR /var/lib/gateway
EXPOSE 8080
# Liveness of `serve` on PORT (8080); slim has no curl. The worker's health is on its own port
# (--metrics-port): compose.yaml and the Kubernetes manifests check that one instead.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:' + os.environ.get('PORT', '8080') + '/health/live', timeout=4)"]
ENTRYPOINT ["gateway"]
CMD ["serve"]
