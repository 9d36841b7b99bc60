# Staylock developer and CI tasks. `make help` lists them.
#
# Tools come from the Go module proxy at pinned versions (never downloaded
# binaries) or from Debian (protoc: apt-get install -y protobuf-compiler).

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := help

GO            ?= go
BIN           := bin
PROTO_FILES   := $(wildcard actors/*.proto)
# protoc-gen-go is built from the google.golang.org/protobuf version in go.mod,
# so generated code always matches the runtime library we link.
PROTOC_GEN_GO := $(BIN)/protoc-gen-go
GOLANGCI_VERSION    := v2.15.0
STATICCHECK_VERSION := v0.8.2
BENCH_PKGS    := ./booking/ ./actors/ ./persistence/

.PHONY: help run build build-k8s test test-cluster lint fmt fmt-check vet proto proto-check deploy-check bench bench-go tools clean backup-drill

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

run: ## run the server (go run ./cmd/staylock serve)
	$(GO) run ./cmd/staylock serve

build: ## build bin/staylock (every cluster provider but k8s)
	$(GO) build -o $(BIN)/staylock ./cmd/staylock

# The Kubernetes provider's client (k8s.io/client-go and the API types) is
# a third of the binary's code and most of a cold build, so only binaries
# for Kubernetes carry it (build tag k8s; see cluster/providers_k8s.go).
build-k8s: ## build bin/staylock with the Kubernetes cluster provider (CLUSTER_PROVIDER=k8s)
	$(GO) build -tags k8s -o $(BIN)/staylock ./cmd/staylock

test: ## run every test with the race detector
	$(GO) test -race -count=1 -timeout 20m ./...

# Several protoactor members in one process cannot run under the race
# detector (protoactor's remote start rewrites gRPC's global logger), so the
# in-process multi-member tests carry `!race` and run here. The multi-process
# ones (e2e TestCluster_*) already run in `make test`.
test-cluster: ## in-process multi-member cluster tests (no race detector)
	$(GO) test -count=1 -timeout 10m ./cluster/...

fmt: ## gofmt every Go file in place
	git ls-files -z --cached --others --exclude-standard '*.go' | xargs -0 -r gofmt -w

fmt-check: ## fail when a Go file is not gofmt-clean
	@out=$$(git ls-files -z --cached --others --exclude-standard '*.go' | xargs -0 -r gofmt -l); \
	if [ -n "$$out" ]; then echo "gofmt: these files need 'make fmt':"; echo "$$out"; exit 1; fi; \
	echo "gofmt: ok"

vet: ## go vet
	$(GO) vet ./...

# golangci-lint (config: .golangci.yml) when installed; otherwise it is built
# from the module proxy at a pinned version (slow the first time, then
# cached). LINT_FAST=1 skips it and runs staticcheck alone.
lint: fmt-check vet ## gofmt, go vet and golangci-lint (staticcheck, errcheck, sqlclosecheck, forbidigo)
	@if [ -n "$${LINT_FAST:-}" ]; then \
		echo "lint: LINT_FAST set: staticcheck $(STATICCHECK_VERSION) only"; \
		$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...; \
	elif command -v golangci-lint >/dev/null 2>&1; then \
		echo "lint: $$(golangci-lint version 2>&1 | head -1)"; \
		golangci-lint run ./...; \
	else \
		echo "lint: golangci-lint not on PATH: running golangci-lint $(GOLANGCI_VERSION) via 'go run' (first build takes minutes)"; \
		$(GO) run github.com/golangci/golangci-lint/v2/cmd/golangci-lint@$(GOLANGCI_VERSION) run ./...; \
	fi

$(PROTOC_GEN_GO): go.mod go.sum
	@mkdir -p $(BIN)
	$(GO) build -o $@ google.golang.org/protobuf/cmd/protoc-gen-go

tools: $(PROTOC_GEN_GO) ## build the code generators into bin/

define need_protoc
	@command -v protoc >/dev/null 2>&1 || { echo "protoc not found: apt-get install -y protobuf-compiler"; exit 1; }
endef

proto: $(PROTOC_GEN_GO) ## regenerate actors/*.pb.go from actors/*.proto
	$(need_protoc)
	protoc --plugin=protoc-gen-go=$(PROTOC_GEN_GO) --go_out=. --go_opt=paths=source_relative $(PROTO_FILES)

# Regenerates into a temporary copy and compares, so a stale or hand-edited
# .pb.go (or one whose .proto is gone) fails CI.
proto-check: $(PROTOC_GEN_GO) ## fail when committed .pb.go files differ from their .proto
	$(need_protoc)
	@tmp=$$(mktemp -d); trap 'rm -rf "$$tmp"' EXIT; \
	plugin=$$(realpath $(PROTOC_GEN_GO)); \
	mkdir -p "$$tmp/actors"; \
	if [ -n "$(PROTO_FILES)" ]; then \
		cp $(PROTO_FILES) "$$tmp/actors/"; \
		(cd "$$tmp" && protoc --plugin=protoc-gen-go="$$plugin" --go_out=. --go_opt=paths=source_relative $(PROTO_FILES)); \
	fi; \
	status=0; \
	for f in $$(cd "$$tmp" && ls actors/*.pb.go 2>/dev/null); do \
		if [ ! -f "$$f" ]; then echo "proto-check: $$f is missing: run 'make proto'"; status=1; \
		elif ! diff -u "$$f" "$$tmp/$$f"; then echo "proto-check: $$f is stale: run 'make proto'"; status=1; fi; \
	done; \
	for f in $$(ls actors/*.pb.go 2>/dev/null); do \
		[ -f "$$tmp/$$f" ] || { echo "proto-check: $$f has no .proto: delete it or restore its .proto"; status=1; }; \
	done; \
	[ $$status -eq 0 ] && echo "proto-check: generated code is up to date"; \
	exit $$status

bench: ## Staylock vs the baselines and the in-memory ceiling, interleaved, 3 reps; writes docs/benchmarks.md (BENCH_ARGS="--reps 1 --duration 5s" for a quick run)
	$(GO) run ./bench/cmd/staylock-bench $(BENCH_ARGS)

bench-go: ## Go benchmarks of the hot path: rules, actor on each store, batch commit (BENCHFLAGS="-benchtime=1x" for a smoke run)
	$(GO) test -run '^$$' -bench . -benchmem $(BENCHFLAGS) $(BENCH_PKGS)

# nginx -t, systemd-analyze verify and promtool check rules on deploy/
# (Debian: apt-get install -y nginx-light prometheus; .ci/run installs them).
deploy-check: ## check deploy/ with nginx -t, systemd-analyze verify, promtool check rules
	bash deploy/check.sh

# The backup drill (docs/operations.md) on a large database: a spread load
# of DRILL_LOAD with DRILL_CLIENTS clients on the scenario's own layout
# (1,000 room types), a base backup while a second load books, WAL
# archiving, restore into a fresh cluster, the audit on the restored copy;
# prints the RTO. `make test` runs the same drill small, in seconds.
DRILL_LOAD    ?= 90s
DRILL_CLIENTS ?= 64
DRILL_LAYOUT  ?=
backup-drill: ## timed backup drill: pg_basebackup + WAL archive → restore → audit, prints the RTO (DRILL_LOAD=90s DRILL_CLIENTS=64)
	DRILL_REPORT=1 DRILL_LOAD=$(DRILL_LOAD) DRILL_CLIENTS=$(DRILL_CLIENTS) DRILL_LAYOUT="$(DRILL_LAYOUT)" \
		$(GO) test -count=1 -timeout 60m -run '^TestBackupDrill' -v ./e2e/

clean: ## remove build output
	rm -rf $(BIN)
