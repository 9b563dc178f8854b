# syntax=docker/dockerfile:1.7
# The model runtime for NVIDIA GPU nodes (serving and training): an NVIDIA CUDA runtime base with
# Python and torch built for CUDA 12.8. Needs the NVIDIA container toolkit / GPU operator on the node.
#   buildah bud --layers -f deploy/docker/runtime-cuda.Dockerfile -t registry.internal/axops/runtime:0.1.0-cuda .
# The vLLM engine is not included (it pins its own torch): extend this image with the vLLM release
# built for torch 2.13 if deployments use engine=vllm.
#
# Base images pinned by tag; pin by digest before a release (no registry reachable where this was written).
ARG CUDA_IMAGE=docker.io/nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04
# digest: docker.io/nvidia/cuda:12.8.1-cudnn-runtime-ubuntu24.04@sha256:<resolve before release>

FROM ${CUDA_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1 DEBIAN_FRONTEND=noninteractive
# Ubuntu 24.04 ships Python 3.12 (axops needs >= 3.11).
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 python3-venv \
 && rm -rf /var/lib/apt/lists/* \
 && python3 -m venv /opt/axops
WORKDIR /src
# torch pinned (the same version as constraints.txt), built for CUDA 12.8.
RUN /opt/axops/bin/pip install --index-url https://download.pytorch.org/whl/cu128 torch==2.13.0+cu128
COPY pyproject.toml constraints.txt alembic.ini ./
COPY src/ src/
RUN grep -v '^torch==' constraints.txt > /tmp/constraints.txt \
 && /opt/axops/bin/pip install -c /tmp/constraints.txt '.[runtime]'

FROM ${CUDA_IMAGE}
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update \
 && apt-get install -y --no-install-recommends python3 \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 axops \
 && useradd --system --uid 10001 --gid 10001 --home-dir /home/axops --create-home --shell /usr/sbin/nologin axops
COPY --from=build /opt/axops /opt/axops
ENV PATH=/opt/axops/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HF_HOME=/cache/hf \
    TOKENIZERS_PARALLELISM=false \
    NVIDIA_VISIBLE_DEVICES=all \
    NVIDIA_DRIVER_CAPABILITIES=compute,utility
USER 10001:10001
WORKDIR /home/axops
HEALTHCHECK --interval=30s --timeout=3s --start-period=600s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8080/health', timeout=2)"]
ENTRYPOINT []
CMD ["python", "-m", "axops.runtime.serve", "--help"]
