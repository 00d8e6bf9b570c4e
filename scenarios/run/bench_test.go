package run

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"mpcrelay/faultproxy"
	"mpcrelay/relay"
	"mpcrelay/scenarios/replay"
	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/spec"
	"mpcrelay/scenarios/trace"
	"mpcrelay/simparty"
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
	for _, s := range tr.Sessions {
		if len(s.Messages[0].Body) != 0 {
			t.Errorf("session %s: a body was recorded without RecordBodies", s.ID)
		}
	}
	dir := t.TempDir()
	if err := report.WriteDir(dir, res, res.Page()); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "report.html")); err != nil {
		t.Error(err)
	}
}

// With RecordBodies the trace carries the real bodies, and replay --bodies sends them.
func TestRecordedBodiesReplay(t *testing.T) {
	s, err := spec.Parse("b.yaml", []byte("name: b\ncurve: eddsa\nthreshold: 1\nparties: 2\nsignings: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w := trace.NewWriter(&buf)
	if _, err := Bench(ctxT(t, time.Minute), BenchOptions{Scenario: s, Record: w, RecordBodies: true}); err != nil {
		t.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	tr, err := trace.Read(&buf)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range tr.Sessions {
		for _, m := range s.Messages {
			if len(m.Body) != m.Size {
				t.Fatalf("session %s: body of %d bytes recorded for size %d", s.ID, len(m.Body), m.Size)
			}
		}
	}
	rr, err := Replay(ctxT(t, time.Minute), ReplayOptions{Trace: tr, Groups: 2, Bodies: true})
	if err != nil {
		t.Fatal(err)
	}
	if !rr.Passed {
		t.Errorf("replay with recorded bodies: %s", rr.Verdict)
	}
}

// A party that disconnects in keygen round 2 makes the keygen fail within the bound, and the
// failure names it.
func TestDropoutMidKeygenFailsNamingTheParty(t *testing.T) {
	s, err := spec.Load("../examples/dropout-mid-keygen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	res, err := Bench(ctxT(t, time.Minute), BenchOptions{Scenario: s})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed || len(res.Missing) != 1 || res.Missing[0] != 3 || res.Keygens.Failed != 1 {
		t.Errorf("Expected: a clean failure naming party 3\nActual:   %s (%+v)", res.Verdict, res.Keygens)
	}
}

// A signer whose Session.load the proxy drops never signs up: the signing fails after the
// timeout and names it (§4.6).
func TestNeverSignupFailsNamingTheParty(t *testing.T) {
	s, err := spec.Parse("ns.yaml", []byte(`name: ns
curve: eddsa
threshold: 1
parties: 3
signings: 1
join: load
timeout: 2s
faults:
  - {kind: never-signup, party: 3, phase: sign}
expect: {outcome: failure, missing: [3], within: 20s}
`))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Bench(ctxT(t, time.Minute), BenchOptions{Scenario: s})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed || res.Signings.Failed != 1 || res.Keygens.Succeeded != 1 {
		t.Errorf("Expected: keygen ok, signing failed naming party 3\nActual:   %s", res.Verdict)
	}
}

// The expected outcome is checked: a scenario expecting a failure that does not happen fails.
func TestUnmetExpectationFails(t *testing.T) {
	s, err := spec.Load("../examples/dropout-mid-keygen.yaml")
	if err != nil {
		t.Fatal(err)
	}
	s.Expect.Missing = []int{2}
	res, err := Bench(ctxT(t, time.Minute), BenchOptions{Scenario: s})
	if err != nil {
		t.Fatal(err)
	}
	if res.Passed {
		t.Errorf("Expected: not passed (party 3 dropped, party 2 expected)\nActual:   %s", res.Verdict)
	}
}

// A relay restart drops every connection; sessions interrupted by it are put down to it and
// those after it succeed (only the embedded relay can be restarted).
func TestRelayRestartMidRun(t *testing.T) {
	s := restartScenario(t, "8s", "300ms")
	res, err := Bench(ctxT(t, time.Minute), BenchOptions{Scenario: s})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed || len(res.RelayRestarts) != 1 || res.SucceededAfterRestart == 0 {
		t.Errorf("Expected: a restart and operations that succeed after it\nActual:   %s restarts %v signings %+v", res.Verdict, res.RelayRestarts, res.Signings)
	}
	if _, err := Bench(ctxT(t, time.Minute), BenchOptions{Scenario: s, URL: "ws://127.0.0.1:1/mpc"}); err == nil {
		t.Error("a relay-restart against an external relay was accepted")
	}
}

// A keygen cut by a restart is tried again once the relay is back, not at once: on a loaded
// machine the shutdown takes a while, and retries made meanwhile all failed on a refused dial,
// leaving the group without a key (the run ended at 0.3 s with "keygens 0/3").
func TestKeygenCutByRestartWaitsForTheRelay(t *testing.T) {
	restartDowntime = 300 * time.Millisecond
	t.Cleanup(func() { restartDowntime = 0 })
	res, err := Bench(ctxT(t, time.Minute), BenchOptions{Scenario: restartScenario(t, "1s", "10ms")})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed || res.Keygens.Succeeded != 1 || res.SucceededAfterRestart == 0 {
		t.Errorf("Expected: the keygen done once the relay is back, then signings\nActual:   %s keygens %+v signings %+v", res.Verdict, res.Keygens, res.Signings)
	}
}

// restartScenario: one EdDSA 2-of-3 group signing for duration, the relay restarted after after.
func restartScenario(t *testing.T, duration, after string) *spec.Scenario {
	t.Helper()
	s, err := spec.Parse("rr.yaml", fmt.Appendf(nil, "name: rr\ncurve: eddsa\nthreshold: 1\nparties: 3\nduration: %s\ntimeout: 3s\n"+
		"faults:\n  - {kind: relay-restart, after: %s}\n", duration, after))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// With several relay URLs, party i of a group connects to URL i mod k: here the second URL is
// a proxy in front of the same relay, and it sees the parties that go through it.
func TestBenchSpreadsPartiesOverURLs(t *testing.T) {
	ctx := ctxT(t, 2*time.Minute)
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	inst, err := relay.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Shutdown(context.Background()) })
	p, err := faultproxy.Start(inst.URL(), faultproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	s, err := spec.Parse("k.yaml", []byte("name: k\ncurve: eddsa\nthreshold: 1\nparties: 3\nkeygens: 1\n"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Bench(ctx, BenchOptions{Scenario: s, URL: inst.URL(), URLs: []string{inst.URL(), p.URL()}})
	if err != nil {
		t.Fatal(err)
	}
	if !res.Passed || len(p.Conns()) != 1 {
		t.Errorf("Expected: a keygen with party 2 of 3 through the second URL\nActual:   %s, %d connections through it", res.Verdict, len(p.Conns()))
	}
}

// Party 3 drops out; party 2's peer-to-peer message to it is refused (the relay freed number
// 3, §6.1) and party 2 stops; party 1 waits for both. Only party 3 is missing.
func TestMissingPartiesBlameTheGoneReceiver(t *testing.T) {
	err := simparty.Failures{
		{Party: 3, Stage: "round", Round: 1, Err: simparty.ErrDropped},
		{Party: 2, Stage: "round", Round: 2, Err: errors.New("send KGRound2Message1: rpc error -32603: receiver 3 for peer to peer message does not exist")},
		{Party: 1, Stage: "round", Round: 2, Waiting: []uint16{2, 3}, Err: simparty.ErrNoProgress},
	}
	if got := missingParties(err); !slices.Equal(got, []uint16{3}) {
		t.Errorf("Expected: [3]\nActual:   %v", got)
	}
}
