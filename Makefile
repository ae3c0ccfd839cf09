# Developer targets. scripts/test.sh defines the checks; `make test` and CI
# run it, so that both run the same thing.

GO       ?= go
BIN      ?= bin/herald
FUZZTIME ?= 10s
ARGS     ?=

.PHONY: help build run test lint fuzz bench bench-peers microbench clean screenshot

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | expand -t 8

build: ## build the binary into bin/herald
	$(GO) build -o $(BIN) ./cmd/herald

run: ## run a node with an embedded NATS server on :8080 (flags in ARGS="...")
	$(GO) run ./cmd/herald serve $(ARGS)

test: ## gofmt check, go vet, and the tests with the race detector
	bash scripts/test.sh

lint: ## gofmt check and go vet
	bash scripts/test.sh lint

# Each fuzz target runs for FUZZTIME on its own: go test -fuzz takes one
# target in one package at a time.
fuzz: ## run every fuzz target for FUZZTIME (default 10s) each
	@set -eu; found=0; \
	for hit in $$(grep -r --include='*_test.go' --exclude-dir=.tools --exclude-dir=node_modules \
			-o '^func Fuzz[A-Za-z0-9_]*' . | sed 's/:func /:/'); do \
		dir=$$(dirname "$${hit%%:*}"); name=$${hit##*:}; found=1; \
		echo "==> $$name in $$dir for $(FUZZTIME)"; \
		$(GO) test -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) "$$dir"; \
	done; \
	if [ $$found = 0 ]; then echo "no fuzz targets found"; fi

bench: ## run the benchmark suite against local Herald nodes; rewrites docs/benchmarks.md
	bash scripts/bench.sh herald

bench-peers: ## the suite against Herald and Centrifugo v6 side by side; rewrites docs/benchmarks.md
	bash scripts/bench.sh all

microbench: ## run the Go micro-benchmarks once, with allocations
	$(GO) test -run '^$$' -bench . -benchmem ./...

clean: ## remove build output
	rm -rf bin

screenshot: ## refresh docs/demo.png from the browser test of the demo page
	HERALD_SCREENSHOT=docs/demo.png $(GO) test -count=1 -run 'TestDemoBothPanesReceiveOverEveryTransport/websocket' ./internal/demo/

