package run

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"mpcrelay/scenarios/replay"
	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/spec"
	"mpcrelay/scenarios/trace"
)

func ctxT(t *testing.T, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}

// The smoke scenario runs real EdDSA 2-of-3 keygen and signings through the embedded relay,
// records the traffic, and the recorded trace replays cleanly.
func TestSmokeBenchRecordsATraceThatReplays(t *testing.T) {
	s, err := spec.Load("../examples/smoke.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := trace.NewWriter(&buf)
	res, err := Bench(ctxT(t, 2*time.Minute), BenchOptions{Scenario: s, Record: w})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if !res.Passed || res.Keygens.Succeeded != 1 || res.Signings.Verified != 2 {
		t.Fatalf("Expected: 1 keygen, 2 verified signatures\nActual:   %s\n%+v", res.Verdict, res)
	}
	for _, ph := range []string{PhaseJoin, PhaseRounds, PhaseFinish, PhaseKeygen, PhaseSign} {
		if res.Latency[ph].Count == 0 {
			t.Errorf("no latency samples for phase %s", ph)
		}
	}
	if res.Traffic.BroadcastMessages == 0 || res.Traffic.P2PMessages == 0 || res.Traffic.FramesSent == 0 {
		t.Errorf("traffic not counted: %+v", res.Traffic)
	}
	tr, err := trace.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	if len(tr.Sessions) != 3 {
		t.Fatalf("Expected: 3 recorded sessions (1 keygen, 2 signings)\nActual:   %d", len(tr.Sessions))
	}
	rr, err := Replay(ctxT(t, time.Minute), ReplayOptions{Trace: tr, TraceName: "recorded", Groups: 3})
	if err != nil {
		t.Fatal(err)
	}
	if !rr.Passed || rr.Relay.Rule[0] != replay.RuleRound {
		t.Errorf("replay of the recorded trace: %s (rules %v)", rr.Verdict, rr.Relay.Rule)
	}
	dir := t.TempDir()
	if err := report.WriteDir(dir, res, res.Page()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
		t.Error(err)
	}
}
