# The controller image of manifests/install (`rollouts:latest`): `rollouts controller`
# with the kubectl (kustomize) and helm builds the reconciler renders with.
# Not built on the development machine (no container engine there): see README, Install.
#
#   docker build -t rollouts:latest .

# 1. kubectl and helm from their Go modules, with the script and pinned versions that
#    `rollouts dev build` uses (rollouts/devcluster/build_tools.sh, versions.py).
FROM golang:1.26-bookworm AS tools
ARG KUBERNETES_VERSION=v1.37.2
ARG ETCD_VERSION=v3.7.3
ARG KWOK_VERSION=v0.8.0
ARG HELM_VERSION=v3.22.0
ENV ROLLOUTS_CACHE=/cache KUBERNETES_VERSION=${KUBERNETES_VERSION} \
    ETCD_VERSION=${ETCD_VERSION} KWOK_VERSION=${KWOK_VERSION} HELM_VERSION=${HELM_VERSION}
COPY rollouts/devcluster/build_tools.sh /build_tools.sh
RUN bash /build_tools.sh kubernetes helm \
 && mkdir -p /out \
 && cp /cache/bin/kubernetes-${KUBERNETES_VERSION}/kubectl /cache/bin/helm-${HELM_VERSION}/helm /out/

# 2. The Python package in a virtual environment.
FROM python:3.11-slim-bookworm AS app
WORKDIR /app
COPY pyproject.toml README.md ./
COPY rollouts/ rollouts/
COPY reconciler/ reconciler/
COPY analysis/ analysis/
RUN python -m venv /venv && /venv/bin/pip install --no-cache-dir .

# 3. The runtime: non-root, no shell tools beyond git (the reconciler's Git source).
FROM python:3.11-slim-bookworm
RUN apt-get update -qq && apt-get install -y -qq --no-install-recommends git openssh-client \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --uid 65532 --user-group --home-dir /tmp --no-create-home rollouts
COPY --from=app /venv /venv
COPY --from=tools /out/kubectl /out/helm /usr/local/bin/
ENV PATH=/venv/bin:/usr/local/bin:/usr/bin:/bin HOME=/tmp PYTHONUNBUFFERED=1
USER 65532:65532
EXPOSE 8090
ENTRYPOINT ["rollouts"]
CMD ["controller", "--in-cluster"]
