# Skiff: `make demo` runs a backup and restore on this machine; `make test` runs every test.
SHELL := /bin/bash
CARGO ?= cargo
TESTENV := tests/testenv.sh

.PHONY: chaos help build test test-unit test-integration lint fmt crds crds-check demo bench bench-quick bench-operator bench-failover bench-profile bench-soak testenv testenv-up testenv-down clean \
  chart manifests image image-test docs

help: ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  %-18s %s\n", $$1, $$2}'

build: ## Build skiff-worker and skiff-operator (release)
	$(CARGO) build --release --bin skiff-worker --bin skiff-operator

test: lint testenv ## Everything CI runs: lint, all tests against real servers, then the images
	@set -euo pipefail; trap '$(TESTENV) down >/dev/null 2>&1 || true' EXIT; \
	  $(TESTENV) up kafka s3 connect k8s helm toxiproxy; \
	  $(CARGO) test --workspace --all-targets; \
	  bash hack/fuzz-smoke.sh
	$(MAKE) --no-print-directory image-test

fuzz-smoke: ## Fuzz every cargo-fuzz target for FUZZ_SECONDS (30) each; a crash leaves its input in fuzz/artifacts
	bash hack/fuzz-smoke.sh

test-unit: ## Unit tests only (no servers)
	$(CARGO) test --workspace --lib --bins

lint: crds-check ## cargo fmt --check, clippy -D warnings, CRD YAML up to date
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

fmt: ## Format the code
	$(CARGO) fmt --all

crds: ## Regenerate the CRD YAML under crds/ from the Rust types
	$(CARGO) run -q -p skiff-operator --bin crdgen -- crds

crds-check: ## Fail when crds/ differs from what the code generates
	@tmp=$$(mktemp -d); $(CARGO) run -q -p skiff-operator --bin crdgen -- $$tmp && diff -ru crds $$tmp \
	  || { echo "crds/ is out of date: run 'make crds' and commit"; rm -rf $$tmp; exit 1; }; rm -rf $$tmp

chart: ## Copy crds/ into the Helm chart (charts/skiff/crds), then helm lint and render it
	bash hack/sync-chart-crds.sh
	@. hack/helm.sh && "$$HELM" lint --strict charts/skiff --kube-version "$$KUBE_VERSION" && \
	  "$$HELM" template skiff charts/skiff --kube-version "$$KUBE_VERSION" >/dev/null

manifests: chart ## Regenerate the kubectl bundle manifests/skiff.yaml from the chart
	bash hack/gen-manifests.sh

image: build ## Build the worker and operator images as OCI archives under target/images (no daemon)
	bash hack/build-image.sh skiff-worker target/release/skiff-worker 8083
	bash hack/build-image.sh skiff-operator target/release/skiff-operator 8080

image-test: image ## Check the image archives: config (user, entrypoint, ports), contents, binaries run
	bash tests/packaging/image-test.sh

docs: ## Regenerate docs/connectors.md and docs/worker-properties.md from the worker
	SKIFF_UPDATE_DOCS=1 $(CARGO) test -p skiff-worker --test docs_reference

demo: testenv ## Start Kafka and S3 locally, back a topic up, restore it into a new topic, compare
	bash tests/demo.sh

CRASH_TRIALS ?= 10
chaos: testenv ## Soak: CRASH_TRIALS (10) crash trials (kill -9 during backup and restore), then the fault tests with S3 down for a minute
	@set -euo pipefail; trap '$(TESTENV) down >/dev/null 2>&1 || true' EXIT; \
	  $(TESTENV) up kafka s3 toxiproxy; \
	  SKIFF_CRASH_TRIALS=$(CRASH_TRIALS) $(CARGO) test -p skiff-worker --test crash -- --nocapture; \
	  SKIFF_S3_OUTAGE_SECS=60 $(CARGO) test -p skiff-worker --test faults -- --nocapture

bench: testenv ## Full benchmarks; results table under bench/results/
	bash bench/run.sh full

bench-quick: testenv ## A two-minute benchmark for a developer's loop
	bash bench/run.sh quick

bench-operator: testenv ## Time for 1,000 KafkaConnectors to become Ready, and operator memory
	bash bench/operator.sh 1000

bench-failover: testenv ## Distributed failover, Skiff against Apache Connect (about 15 minutes)
	bash bench/failover.sh

bench-profile: testenv ## Where a 1 GB backup spends its CPU, with perf (about 2 minutes)
	bash bench/profile.sh

bench-soak: testenv ## Memory of one worker over 12 rounds of backup and restore (about 5 minutes)
	bash bench/soak.sh

testenv: ## Install the real servers and tools (Kafka, Connect, versitygw, Kubernetes, helm, toxiproxy, schemathesis, cargo-fuzz) into the cache
	$(TESTENV) install

testenv-up: ## Start the servers (kafka s3 connect k8s helm toxiproxy)
	$(TESTENV) up kafka s3 connect k8s helm toxiproxy

testenv-down: ## Stop the servers and delete their data
	$(TESTENV) down

clean: testenv-down ## Remove build output (the server cache under ~/.cache/skiff-testenv stays)
	$(CARGO) clean
