# Every target needs only Go: modules come through the Go module proxy.
GO ?= go

.PHONY: all conform test run bench loadgen-figures build vet fmt

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
bench:
	$(GO) test -run '^$$' -bench 'Throughput|IdleConn' -benchmem -count 5 ./relay/
	$(GO) test -run '^$$' -bench Replay -count 5 ./scenarios/traces/
	$(GO) test -run '^$$' -bench 'RelayVsMemory/ed25519' -benchtime 30x ./simparty/
	$(GO) test -run '^$$' -bench 'RelayVsMemory' -benchtime 9x -timeout 40m ./simparty/

# The load generator's figures (README, "Load generator"): relay and forwarder as their own processes.
loadgen-figures:
	scenarios/figures.sh

build:
	$(GO) build -o bin/mpcrelay ./cmd/mpcrelay

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
