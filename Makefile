# goimage-operator: one entry point for every build, check and test.
# A fresh machine needs only `make check` (no root: lint, unit, integration) or
# `make test` (root: check, then e2e on the local node): each makes the
# virtualenv, builds the tool binaries from pinned Go modules, and runs its tiers.

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
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

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

CRDS := manifests/crds/goimage.dev_goimagebuilds.yaml manifests/crds/goimage.dev_goimagebuildpolicies.yaml \
	manifests/crds/kopf.dev_clusterkopfpeerings.yaml manifests/crds/kopf.dev_kopfpeerings.yaml

.PHONY: crds
crds: ## copy the CRDs (source of truth: manifests/crds) into the chart
	cp $(CRDS) charts/goimage-operator/crds/

.PHONY: admission-policy
admission-policy: venv ## generate the chart's ValidatingAdmissionPolicy from the policy rules (operator/goimage/core/policy_rules.py)
	$(BIN)/python -m goimage.core.admission_policy >charts/goimage-operator/templates/admission-policy.yaml

# Every shell script (tracked or new): cluster/'s and CI's entry point.
SHELL_SCRIPTS = $(shell git ls-files --cached --others --exclude-standard -- '*.sh') .ci/run

.PHONY: lint
lint: venv ## ruff, mypy and shellcheck (Debian's shellcheck is installed when missing)
	$(BIN)/ruff check operator tests bench testkit
	$(BIN)/ruff format --check operator tests bench testkit
	$(BIN)/mypy
	@command -v shellcheck >/dev/null || LOG_TAG=lint bash -c 'source cluster/common.sh && ensure_packages shellcheck'
	shellcheck --external-sources --source-path=SCRIPTDIR $(SHELL_SCRIPTS)

.PHONY: test-unit
test-unit: venv ## unit tier: the pure core, no cluster (builds real Go binaries, one with cgo: Debian's gcc is installed when missing)
	@command -v gcc >/dev/null || LOG_TAG=test-unit bash -c 'source cluster/common.sh && ensure_packages gcc libc6-dev'
	$(BIN)/pytest tests/unit

.PHONY: test-integration
test-integration: venv tools ## integration tier: the operator against etcd + kube-apiserver + kube-controller-manager
	$(BIN)/pytest tests/integration

.PHONY: test-e2e
test-e2e: venv tools ## e2e tier: the whole local node (make cluster, as root), real Kaniko builds through the deployed operator
	$(BIN)/pytest tests/e2e

.PHONY: check
check: lint test-unit test-integration ## lint, unit and integration tiers: the everyday loop, no root and no node
	@echo "make check: lint, unit and integration passed"

# The e2e tier skips its tests without root; `make test` refuses instead, before
# spending minutes on the other tiers, so that "all tiers passed" means all.
.PHONY: test
test: ## every tier: make check, then e2e on the local node (root; what CI runs)
	@[[ $$(id -u) -eq 0 ]] || { echo "make test: the e2e tier needs root (the node mounts, makes a bridge and iptables rules); without root, run make check" >&2; exit 1; }
	@$(MAKE) --no-print-directory check test-e2e
	@echo "make test: all tiers passed"

.PHONY: cluster
cluster: ## e2e tier's node: etcd, apiserver, controller-manager, scheduler, kubelet on containerd, registry, git server, GOPROXY, images (root; env in .cluster/env)
	cluster/cluster.sh up

.PHONY: cluster-down
cluster-down: ## stop the e2e node and everything it started (keeps .cluster and the image cache)
	cluster/cluster.sh down

.PHONY: images
images: ## build the e2e node's images locally (pause, Kaniko, golang, distroless, python base) and push them to its registry
	cluster/cluster.sh images

.PHONY: image
image: venv tools ## build the operator's image from ./Dockerfile with Kaniko in the e2e cluster; prints it by digest
	@mkdir -p .cluster && cluster/operator-image.sh | tee .cluster/operator-image

.PHONY: deploy
deploy: cluster image ## install the operator into the e2e cluster with the Helm chart
	cluster/deploy.sh "$$(cat .cluster/operator-image)"

.PHONY: demo
demo: deploy ## the whole path: cluster, operator, a sample app built by Kaniko from a local git server, and run
	cluster/demo.sh

.PHONY: golden
golden: venv ## rewrite the unit tier's golden files (review the diff)
	$(BIN)/pytest tests/unit --update-golden

.PHONY: clean
clean: ## remove the virtualenv and caches (keeps .tools)
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache

# --- the chart and the plain install manifests ------------------------------------------------

CHART := charts/goimage-operator
INSTALL_YAML := manifests/install/goimage-operator.yaml
# The chart reads no .Capabilities, so the render is the same for any
# Kubernetes version; naming one keeps it so for any helm build (ours would
# otherwise claim v1.20, below the chart's kubeVersion). tests/integration/
# test_chart.py renders with the same arguments.
CHART_KUBE_VERSION := 1.34.0
RENDER_INSTALL := helm template goimage-operator $(CHART) --namespace goimage-system \
	--include-crds --kube-version $(CHART_KUBE_VERSION)

.PHONY: manifests
manifests: crds ## render the chart (default values) into manifests/install, for `kubectl apply -k`
	cluster/build-tools.sh $(TOOLS_DIR) helm
	$(RENDER_INSTALL) >$(INSTALL_YAML)

.PHONY: check-manifests
check-manifests: ## fail if manifests/install differs from a fresh render of the chart
	cluster/build-tools.sh $(TOOLS_DIR) helm
	diff -u $(INSTALL_YAML) <($(RENDER_INSTALL)) || { echo "manifests/install is stale: run make manifests" >&2; exit 1; }

.PHONY: helm-lint
helm-lint: ## helm lint --strict: default values, and a watchNamespaces list
	cluster/build-tools.sh $(TOOLS_DIR) helm
	helm lint --strict --kube-version $(CHART_KUBE_VERSION) $(CHART)
	helm lint --strict --kube-version $(CHART_KUBE_VERSION) --set 'watchNamespaces={team-a,team-b}' $(CHART)

# Not run by CI (no Docker there): a local trial on kind, for users with Docker
# and kind installed. See docs/install.md.
KIND_CLUSTER ?= goimage
KIND_IMAGE ?= goimage-operator:dev
.PHONY: kind-demo
kind-demo: ## (needs Docker and kind; not run by CI) build the operator image, load it into kind, install the chart
	cluster/build-tools.sh $(TOOLS_DIR) helm kubectl
	docker build --tag $(KIND_IMAGE) .
	kind get clusters | grep -qx '$(KIND_CLUSTER)' || kind create cluster --name $(KIND_CLUSTER)
	kind load docker-image $(KIND_IMAGE) --name $(KIND_CLUSTER)
	kubectl --context kind-$(KIND_CLUSTER) apply --server-side --force-conflicts -f $(CHART)/crds/
	helm upgrade --install goimage-operator $(CHART) --kube-context kind-$(KIND_CLUSTER) \
		--namespace goimage-system --create-namespace --wait --timeout 5m \
		--set image.repository=$(firstword $(subst :, ,$(KIND_IMAGE))) \
		--set image.tag=$(lastword $(subst :, ,$(KIND_IMAGE))) --set image.pullPolicy=Never
	kubectl --context kind-$(KIND_CLUSTER) -n goimage-system get pods

# --- benchmarks ---------------------------------------------------------------------------------

.PHONY: bench bench-plane bench-builds bench-scale
bench: bench-plane bench-builds ## every benchmark below, one after the other (~40 min)

bench-plane: venv tools ## operator on a local control plane: reaction, burst, API cost, footprint against their floors, then 1,000 and 10,000 finished builds (~30 min; writes bench/results.md and results-scale.md)
	$(BIN)/python -m bench
	$(BIN)/python -m bench.scale

bench-scale: venv tools ## the operator with 1,000 then 10,000 finished builds on a local control plane: memory, CPU, restart time and API requests (~15 min; writes bench/results-scale.md)
	$(BIN)/python -m bench.scale

bench-builds: venv tools ## real builds on the e2e node (root): cold and warm builds of examples/ against host go build (~3-6 min once the node's images exist; writes bench/results-builds.md)
	$(BIN)/python -m bench.node
