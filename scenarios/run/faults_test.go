package run

import (
	"testing"
	"time"

	"mpcrelay/scenarios/spec"
	"mpcrelay/scenarios/traces"
)

// A latency fault goes through the fault proxy: every delivery crosses it twice (to the relay
// and back), so no delivery can be quicker than twice the added latency.
func TestReplayLatencyFaultDelaysEveryDelivery(t *testing.T) {
	tr, err := traces.Default()
	if err != nil {
		t.Fatal(err)
	}
	const added = 15 * time.Millisecond
	res, err := Replay(ctxT(t, time.Minute), ReplayOptions{Trace: tr, Groups: len(tr.Sessions),
		Faults: []spec.Fault{{Kind: spec.FaultLatency, Latency: spec.Duration(added), Direction: spec.DirectionBoth}}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed {
		t.Fatalf("Expected: a clean replay through the proxy\nActual:   %s", res.Verdict)
	}
	lat := res.Relay.LatencyHistogram
	minMS := 0.0
	for i, c := range lat.Counts {
		if c > 0 {
			if i > 0 {
				minMS = lat.UpperMS[i-1]
			}
			break
		}
	}
	if minMS < 0.9*2*float64(added.Milliseconds()) {
		t.Errorf("Expected: every delivery at least %v late\nActual:   fastest bucket starts at %.2f ms", 2*added, minMS)
	}
}

func TestReplayRefusesFaultsWithBaseline(t *testing.T) {
	tr, err := traces.Default()
	if err != nil {
		t.Fatal(err)
	}
	_, err = Replay(ctxT(t, time.Minute), ReplayOptions{Trace: tr, Groups: 1, Baseline: true,
		Faults: []spec.Fault{{Kind: spec.FaultLatency, Latency: spec.Duration(time.Millisecond)}}})
	if err == nil {
		t.Error("proxy faults with a baseline were accepted")
	}
}

func TestProxyRulesCoverDirections(t *testing.T) {
	rules := proxyRules([]spec.Fault{
		{Kind: spec.FaultLatency, Latency: spec.Duration(time.Millisecond), Direction: spec.DirectionBoth},
		{Kind: spec.FaultDuplicate, Probability: 1, Direction: spec.DirectionUp},
		{Kind: spec.FaultReorder, Probability: 1, Direction: spec.DirectionDown},
	}, 1)
	if len(rules) != 4 {
		t.Errorf("Expected: 2 + 1 + 1 rules\nActual:   %d", len(rules))
	}
}
