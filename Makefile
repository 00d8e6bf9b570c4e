# Every target needs only Go: modules come through the Go module proxy.
GO ?= go

.PHONY: all conform test run bench bench-relay bench-cluster loadgen-figures build vet fmt

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

# Cluster mode before/after (README, cluster figures): RUNS interleaved runs of the cluster
# benchmarks built at BEFORE (a commit; default: the benchmarks on the code before the owner's
# lanes and one event message per node) and at the working tree, in turn (every other run starts
# with after), then medians of the per-run ratios after/before (relay/testdata/beforeafter.awk).
# Raw lines go to $(CLUSTER_OUT).
BEFORE ?= f9b8125
CLUSTER_OUT ?= cluster-bench.txt
bench-cluster:
	rm -rf .bench-before && git worktree prune && git worktree add --detach .bench-before $(BEFORE)
	cd .bench-before && $(GO) test -c -o ../before.relay.test ./relay/ && $(GO) test -c -o ../before.cluster.test ./relay/cluster/
	git worktree remove --force .bench-before
	$(GO) test -c -o after.relay.test ./relay/
	$(GO) test -c -o after.cluster.test ./relay/cluster/
	uptime
	cd relay && for i in $$(seq $(RUNS)); do order="before after"; [ $$((i % 2)) = 0 ] && order="after before"; \
	for v in $$order; do { \
	  ../$$v.relay.test -test.run '^$$' -test.bench 'ClusterLatency' -test.benchtime 2000x; \
	  ../$$v.relay.test -test.run '^$$' -test.bench 'ClusterThroughput' -test.benchtime 20000x; \
	  ../$$v.relay.test -test.run '^$$' -test.bench 'ClusterOwner$$|ClusterFanout' -test.benchtime 60000x; \
	  ../$$v.relay.test -test.run '^$$' -test.bench 'ClusterOwnerLatency' -test.benchtime 200x; \
	  ../$$v.cluster.test -test.run '^$$' -test.bench 'OwnerBesideSlowConnection' -test.benchtime 20000x; \
	} 2>&1 | sed "s/^/$$v run=$$i /"; done; done > $(abspath $(CLUSTER_OUT))
	uptime
	awk -f relay/testdata/beforeafter.awk $(CLUSTER_OUT)
	rm -f before.relay.test before.cluster.test after.relay.test after.cluster.test

build:
	$(GO) build -o bin/mpcrelay ./cmd/mpcrelay

vet:
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
