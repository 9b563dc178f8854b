# syntax=docker/dockerfile:1.7
# The control plane: API, gateway, web UI and worker in one image; the command chooses the role.
#   api / gateway:  axops up --no-worker        (the default CMD)
#   worker:         axops worker
#   migrations:     axops migrate               (the Kubernetes Job / Argo CD PreSync hook)
# Build from the repository root:
#   buildah bud --layers -f deploy/docker/control-plane.Dockerfile -t registry.internal/axops/axops:0.1.0 .
#   docker build -f deploy/docker/control-plane.Dockerfile -t registry.internal/axops/axops:0.1.0 .
#
# Base images are pinned by tag here. Pin them by digest too before a release
# (`image:tag@sha256:...`, from `skopeo inspect docker://<image>:<tag>`): the machine these files were
# written on has no route to a container registry, so the digests could not be resolved (docs/OPERATIONS.md, "Images").
ARG NODE_IMAGE=docker.io/library/node:22.12.0-bookworm-slim
# digest: docker.io/library/node:22.12.0-bookworm-slim@sha256:<resolve before release>
ARG PYTHON_IMAGE=docker.io/library/python:3.11.11-slim-bookworm
# digest: docker.io/library/python:3.11.11-slim-bookworm@sha256:<resolve before release>

# 1. The web UI bundle.
FROM ${NODE_IMAGE} AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npx vite build

# 2. The Python package and its pinned dependencies in a virtualenv (no compilers in the final image).
FROM ${PYTHON_IMAGE} AS build
ENV PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_NO_CACHE_DIR=1
RUN python -m venv /opt/axops
WORKDIR /src
COPY pyproject.toml constraints.txt alembic.ini ./
COPY src/ src/
# k8s: the Kubernetes executor; reports: PDF compliance reports. No torch here: models run in the runtime image.
RUN /opt/axops/bin/pip install -c constraints.txt '.[k8s,reports]'

# 3. The final image: slim Python, the virtualenv, the UI, an unprivileged user.
FROM ${PYTHON_IMAGE}
# pango/harfbuzz: PDF reports (weasyprint); fonts-nanum: Korean in them; postgresql-client: pg_dump/pg_restore for `axops backup`.
RUN apt-get update \
 && apt-get install -y --no-install-recommends libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 fonts-nanum postgresql-client \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 axops \
 && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/axops --shell /usr/sbin/nologin axops \
 && install -d -o 10001 -g 10001 -m 0700 /var/lib/axops
COPY --from=build /opt/axops /opt/axops
COPY --from=web /src/web/dist /opt/axops/web
ENV PATH=/opt/axops/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    AXOPS_ENV=production \
    AXOPS_HOST=0.0.0.0 \
    AXOPS_PORT=8000 \
    AXOPS_DATA_DIR=/var/lib/axops \
    AXOPS_WEB_DIST=/opt/axops/web
# Numeric, so Kubernetes' runAsNonRoot can verify it without reading /etc/passwd.
USER 10001:10001
WORKDIR /var/lib/axops
EXPOSE 8000
# For docker/podman runs of the API role. Kubernetes ignores HEALTHCHECK and uses the manifests' probes
# (/healthz liveness, /readyz readiness); run the worker role with --no-healthcheck (it serves no HTTP).
HEALTHCHECK --interval=30s --timeout=3s --start-period=60s --retries=3 \
  CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=2)"]
ENTRYPOINT ["axops"]
CMD ["up", "--no-worker"]
