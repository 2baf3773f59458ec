# rollouts: every target installs what it needs, so a fresh machine only needs
# `make demo` and `make test` (Go >= 1.26, Python >= 3.11 and apt are assumed).
SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
APT_PACKAGES := prometheus openssl git docker-registry

.PHONY: help deps venv tools argo-rollouts traefik flux test unit integration demo demo-multicluster lint bench bench-compare chaos dev-up dev-down clean

help:
	@echo "make demo        bring up the local cluster and run the demo rollout"
	@echo "make demo-multicluster  two local clusters, one ApplicationSet deploying to both"
	@echo "make test        unit + integration tests (starts its own local cluster)"
	@echo "make lint        ruff, mypy --strict, import-linter"
	@echo "make bench       measure and write BENCHMARKS.md"
	@echo "make bench-compare  the same scenarios on us and on Argo Rollouts v1.10.2, side by side"
	@echo "make chaos       inject faults into a cluster of its own; table in BENCHMARKS.md"
	@echo "make dev-up / dev-down   the local control plane on its own"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

venv: $(STAMP)

# System packages from Debian: Prometheus (run by us, not as the system service),
# openssl (the dev cluster's certificates), git, docker-registry (the OCI registry the
# Helm chart tests push to; run by the test on its own port, not as the system service).
deps:
	@missing=""; \
	command -v prometheus >/dev/null || missing="$$missing prometheus"; \
	command -v openssl >/dev/null || missing="$$missing openssl"; \
	command -v git >/dev/null || missing="$$missing git"; \
	command -v docker-registry >/dev/null || missing="$$missing docker-registry"; \
	if [ -n "$$missing" ]; then \
	  echo "installing Debian packages:$$missing"; \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq; \
	  DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	fi
	@command -v go >/dev/null || { echo "Go >= 1.26 is required to build the control plane: install it and retry" >&2; exit 1; }

# The control plane's binaries, built from Go modules once per pinned version into
# ~/.cache/rollouts (outside the repo).
tools: venv deps
	$(BIN)/rollouts dev build --all

# The real Argo Rollouts controller, for the hand-over test only (never used at run
# time): built from its Go module once per version into ~/.cache/rollouts/bin.
argo-rollouts: deps
	tests/tooling/build_argo_rollouts.sh

# Traefik v3, the real data plane of tests/integration/test_real_traffic.py (never used
# at run time): built from its Go module once per version into ~/.cache/rollouts/bin,
# with the Gateway API CRDs its provider watches.
traefik: deps
	tests/tooling/build_traefik.sh

test: tools argo-rollouts traefik
	ROLLOUTS_NO_SKIPS=1 $(BIN)/pytest -q -p no:cacheprovider --durations=25 tests

unit: venv
	$(BIN)/pytest -q -p no:cacheprovider tests/unit

integration: tools argo-rollouts
	$(BIN)/pytest -q -p no:cacheprovider -m integration tests

demo: tools traefik
	$(BIN)/python -m rollouts.demo

# A second cluster (`rollouts dev up --name second`) and an ApplicationSet with a
# clusters generator deploying one app from Git to both; no Traefik needed.
demo-multicluster: tools
	$(BIN)/python -m rollouts.demo_multicluster

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy --strict
	$(BIN)/lint-imports

bench: tools
	$(BIN)/python -m tests.bench.run

# Our controller and the real Argo Rollouts controller, one at a time on one local
# cluster, each with its own CRDs; the table with ratios goes to BENCHMARKS.md.
bench-compare: tools argo-rollouts flux
	$(BIN)/python -m tests.bench.compare
	$(BIN)/python -m tests.bench.run flux

# Flux's source-controller and kustomize-controller v1.9.6, for the GitOps comparison
# only (never used at run time): built from their Go modules once per version into
# ~/.cache/rollouts/bin.
flux: deps
	tests/tooling/build_flux.sh

chaos: tools
	$(BIN)/python -m tests.chaos.run

dev-up: tools
	$(BIN)/rollouts dev up

dev-down: venv
	$(BIN)/rollouts dev down

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
