# pushbench: `make bench` runs the main benchmark matrix and writes a report;
# `make test` runs every test. Both build what they need first.

export PATH := /usr/local/go/bin:$(PATH)
GO      ?= go
BIN     := bin/pushbench
OUT     ?= results/$(shell date -u +%Y%m%d-%H%M%S)
OUT     := $(OUT)

.PHONY: all build deps test check bench bench-quick bench-faults bench-ci fuzz clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/pushbench

## deps: system packages the tests need (a real browser, nginx) and the
## Node.js implementations' one package (npm's ws, from the lockfile);
## installs only what is missing.
deps:
	@command -v chromium >/dev/null && command -v nginx >/dev/null || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium nginx-light; }
	@[ -d node/node_modules/ws ] || npm ci --prefix node --no-audit --no-fund --loglevel=error

## test: format and vet checks, the whole suite under the race detector (the
## fuzz seed corpora run as ordinary tests), then every benchmark once so none
## can rot.
test: deps check
	$(GO) test -race -count=1 -timeout 8m ./...
	$(GO) test -run '^$$' -bench . -benchtime 1x -p 1 -timeout 5m ./...

check:
	@fmt=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
	  if [ -n "$$fmt" ]; then echo "gofmt needed:"; echo "$$fmt"; exit 1; fi
	$(GO) vet ./...

## bench: the default matrix (a kill -9 and a silent partition per
## transport among it), the real-browser checks and the reverse-proxy
## scenario into one report, about 30 minutes on 2 cores (29 for the reference run).
bench: build deps
	$(BIN) bench --matrix default --out $(OUT)
	$(BIN) browser --out $(OUT)
	$(BIN) proxy --out $(OUT)
	$(BIN) report $(OUT) >/dev/null
	@echo "report: $(OUT)/report.md"

## bench-quick: a reduced matrix, about a minute.
bench-quick: build
	$(BIN) bench --matrix quick --out $(OUT)

## bench-faults: every fault against every transport (crash, graceful and
## slow-close restarts, resets, partition, a degraded fan-out, a 5,000-client
## storm with and without jitter), about 7 minutes.
bench-faults: build
	$(BIN) bench --matrix faults --out $(OUT)

## bench-ci: what CI runs (docs/ci.md), in a few minutes: BenchmarkDelivery
## at 100 clients six times through benchstat, and the quick matrix twice
## through `pushbench compare` (exit 1 on a significant regression), against
## the baseline in BASELINE, measured first when there is none.
CI_OUT   ?= results/ci
BASELINE ?= $(CI_OUT)/baseline
CI_BENCH  = $(GO) test -run '^$$' -bench 'Delivery/.*/.*/clients=100$$' -benchtime 10000x -count 6 .
bench-ci: build
	@[ -d $(BASELINE) ] || { echo "no baseline in $(BASELINE): measuring one"; rm -rf $(BASELINE).tmp && mkdir -p $(BASELINE).tmp && \
	  $(CI_BENCH) > $(BASELINE).tmp/bench.txt && \
	  for i in 1 2; do $(BIN) bench --matrix quick --out $(BASELINE).tmp/$$i >/dev/null || exit 1; done && \
	  mv $(BASELINE).tmp $(BASELINE); }
	rm -rf $(CI_OUT)/new && mkdir -p $(CI_OUT)/new
	$(CI_BENCH) > $(CI_OUT)/new/bench.txt; s=$$?; cat $(CI_OUT)/new/bench.txt; exit $$s
	for i in 1 2; do $(BIN) bench --matrix quick --out $(CI_OUT)/new/$$i >/dev/null || exit 1; done
	$(GO) run golang.org/x/perf/cmd/benchstat $(BASELINE)/bench.txt $(CI_OUT)/new/bench.txt
	$(BIN) compare $(BASELINE) $(CI_OUT)/new

## fuzz: run the SSE parser fuzzer for a while (FUZZTIME, default 1m).
FUZZTIME ?= 1m
fuzz:
	$(GO) test ./loadgen -run '^$$' -fuzz FuzzSSEParser -fuzztime $(FUZZTIME)

clean:
	rm -rf bin
