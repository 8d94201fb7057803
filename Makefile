# goimage-operator: one entry point for every build, check and test.
# A fresh machine needs only `make test`: it makes the virtualenv, builds the
# tool binaries from pinned Go modules, and runs every test tier.

SHELL := /bin/bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
TOOLS_DIR := $(CURDIR)/.tools
export GOTOOLCHAIN := local
export PATH := $(TOOLS_DIR)/bin:$(PATH)

.PHONY: help
help: ## list the targets
	@grep -hE '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

$(BIN)/goimage-operator: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@

.PHONY: venv
venv: $(BIN)/goimage-operator ## create the virtualenv and install the operator with its dev tools

.PHONY: tools
tools: ## build etcd and the Kubernetes binaries (apiserver, controller-manager, scheduler, kubelet, kubectl) from pinned Go modules into .tools/bin
	cluster/build-tools.sh $(TOOLS_DIR)

CRD := manifests/crds/goimage.dev_goimagebuilds.yaml

.PHONY: crds
crds: ## copy the CRD (source of truth: manifests/crds) into the chart
	cp $(CRD) charts/goimage-operator/crds/

.PHONY: lint
lint: venv ## ruff and mypy
	$(BIN)/ruff check operator tests
	$(BIN)/ruff format --check operator tests
	$(BIN)/mypy

.PHONY: test-unit
test-unit: venv ## unit tier: the pure core, no cluster
	$(BIN)/pytest tests/unit

.PHONY: test-integration
test-integration: venv tools ## integration tier: the operator against etcd + kube-apiserver + kube-controller-manager
	$(BIN)/pytest tests/integration

.PHONY: test
test: lint test-unit test-integration ## every tier
	@echo "make test: all tiers passed"

.PHONY: golden
golden: venv ## rewrite the unit tier's golden files (review the diff)
	$(BIN)/pytest tests/unit --update-golden

.PHONY: clean
clean: ## remove the virtualenv and caches (keeps .tools)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
