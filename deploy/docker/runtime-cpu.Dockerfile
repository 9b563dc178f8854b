# syntax=docker/dockerfile:1.7
# The model runtime for CPU nodes: serving (`python -m axops.runtime.serve`) and fine-tuning
# (`python -m axops.runtime.train`). The Kubernetes executor starts it with its own command and args
# (AXOPS_RUNTIME_IMAGE names this image); it talks to the control plane over HTTP only.
#   buildah bud --layers -f deploy/docker/runtime-cpu.Dockerfile -t registry.internal/axops/runtime:0.1.0-cpu .
#
# Base image pinned by tag; pin by digest before a release (no registry reachable where this was written).
ARG PYTHON_IMAGE=docker.io/library/python:3.11.11-slim-bookworm
# digest: docker.io/library/python:3.11.11-slim-bookworm@sha256:<resolve before release>

FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/axops
WORKDIR /src
# torch pinned (the same version as constraints.txt), the CPU-only wheel: a tenth of the CUDA one's size.
RUN /opt/axops/bin/pip install --index-url https://download.pytorch.org/whl/cpu torch==2.13.0+cpu
COPY pyproject.toml constraints.txt alembic.ini ./
COPY src/ src/
RUN grep -v '^torch==' constraints.txt > /tmp/constraints.txt \
 && /opt/axops/bin/pip install -c /tmp/constraints.txt '.[runtime]'

FROM ${PYTHON_IMAGE}
RUN groupadd --system --gid 10001 axops \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/axops --create-home --shell /usr/sbin/nologin axops
COPY --from=build /opt/axops /opt/axops
ENV PATH=/opt/axops/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HOME=/cache/hf \
    TOKENIZERS_PARALLELISM=false
USER 10001:10001
WORKDIR /home/axops
# Probes are set by the executor's manifests (/ready, /health on the runtime's port); a standalone run:
HEALTHCHECK --interval=30s --timeout=3s --start-period=600s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2)"]
ENTRYPOINT []
CMD ["python", "-m", "axops.runtime.serve", "--help"]
