# Every target needs only Go: modules come through the Go module proxy.
GO ?= go

.PHONY: all conform test run bench bench-relay loadgen-figures build vet fmt

all: vet test

# The main job: the conformance suite against the embedded reference relay.
conform:
	$(GO) run ./cmd/mpcrelay conform

# The test command of README.md and CI.
test:
	$(GO) test -race -timeout 30m ./...

# The reference relay on 127.0.0.1:3030/mpc.
run:
	$(GO) run ./cmd/mpcrelay serve

# The README's figures: relay vs forwarder, replay vs forwarder, simulated parties relay vs in-memory.
bench: bench-relay
	$(GO) test -run '^$$' -bench Replay -count 5 ./scenarios/traces/
	$(GO) test -run '^$$' -bench 'RelayVsMemory/ed25519' -benchtime 30x ./simparty/
	$(GO) test -run '^$$' -bench 'RelayVsMemory' -benchtime 9x -timeout 40m ./simparty/

# The load generator's figures (README, "Load generator"): relay and forwarder as their own processes.
loadgen-figures:
	scenarios/figures.sh

# Relay vs forwarder (README, reference relay figures): RUNS interleaved runs — each run is one
# process that measures the relay and then the forwarder on the same traffic — then the median
# of the per-run ratios (relay/testdata/ratios.awk). Raw lines go to $(BENCH_OUT).
RUNS ?= 10
BENCH_OUT ?= relay-bench.txt
bench-relay:
	$(GO) test -c -o relay.bench.test ./relay/
	uptime
	cd relay && for i in $$(seq $(RUNS)); do \
	  ../relay.bench.test -test.run '^$$' -test.bench 'Throughput' -test.benchtime 1s -test.benchmem; \
	  ../relay.bench.test -test.run '^$$' -test.bench 'ManyGroups' -test.benchtime 60000x -test.benchmem; \
	  ../relay.bench.test -test.run '^$$' -test.bench 'IdleConn' -test.benchtime 1x; \
	done > $(abspath $(BENCH_OUT))
	uptime
	awk -f relay/testdata/ratios.awk $(BENCH_OUT)
	rm -f relay.bench.test

build:
	$(GO) build -o bin/mpcrelay ./cmd/mpcrelay

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
