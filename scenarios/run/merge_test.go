package run

import (
	"strings"
	"sync"
	"testing"
	"time"

	"mpcrelay/relay"
	"mpcrelay/scenarios/replay"
	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/trace"
	"mpcrelay/scenarios/traces"
)

func eddsaTrace(t *testing.T) *trace.Trace {
	t.Helper()
	full, err := traces.Default()
	if err != nil {
		t.Fatal(err)
	}
	var tr trace.Trace
	for _, s := range full.Sessions {
		if s.Curve == "eddsa" {
			tr.Sessions = append(tr.Sessions, s)
		}
	}
	return &tr
}

// Three segments run at once against one relay merge into the load of one run: the same
// sessions and deliveries due, every histogram count kept.
func TestSegmentsMergeIntoTheWholeLoad(t *testing.T) {
	ctx := ctxT(t, time.Minute)
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	inst, err := relay.Start(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Shutdown(ctx) })
	o := ReplayOptions{URL: inst.URL(), Trace: eddsaTrace(t), TraceName: "eddsa", Groups: 9, Rate: 60,
		TimeScale: 0.1, Duration: 600 * time.Millisecond, SessionTimeout: 10 * time.Second}
	whole, err := Replay(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	o.StartAt = time.Now().Add(300 * time.Millisecond)
	parts := make([]*ReplayResults, 3)
	names := []string{"a", "b", "c"}
	var wg sync.WaitGroup
	errs := make([]error, 3)
	for i := range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			so := o
			so.Segment = replay.Segment{I: i + 1, N: 3}
			parts[i], errs[i] = Replay(ctx, so)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	// Any order of the directories.
	m, err := MergeReplays([]string{names[2], names[0], names[1]}, []*ReplayResults{parts[2], parts[0], parts[1]})
	if err != nil {
		t.Fatal(err)
	}
	r := m.Relay
	if r.Groups != 9 || r.Schedule.SessionsDue != whole.Relay.Schedule.SessionsDue || r.Schedule.DeliveriesDue != whole.Relay.Schedule.DeliveriesDue {
		t.Errorf("Expected: 9 groups, %d sessions and %d deliveries due\nActual:   %d groups, %+v", whole.Relay.Schedule.SessionsDue,
			whole.Relay.Schedule.DeliveriesDue, r.Groups, r.Schedule)
	}
	var delivered int64
	for _, p := range parts {
		delivered += p.Relay.Delivered
	}
	h, err := report.DecodeHDR(r.LatencyHDR)
	if err != nil || r.Delivered != delivered || h.TotalCount() != delivered || r.Latency.Count != int(delivered) {
		t.Errorf("Expected: %d deliveries in the merged counts and histogram\nActual:   %d, %d, %v", delivered, r.Delivered, h.TotalCount(), err)
	}
	if r.Latency.Max < max(parts[0].Relay.Latency.Max, parts[1].Relay.Latency.Max, parts[2].Relay.Latency.Max)-0.01 {
		t.Errorf("merged max %v is below a segment's", r.Latency.Max)
	}
	if !m.Passed || r.Usage == nil || r.Usage.GeneratorCPUSec <= 0 {
		t.Errorf("Expected: a clean merged run with its CPU\nActual:   %s / %+v", m.Verdict, r.Usage)
	}

	faster, fasterRelay := *parts[1], *parts[1].Relay
	fasterRelay.OfferedSessionsPerSec *= 2 // segment 2/3 of a load at --rate 120
	faster.Relay = &fasterRelay
	for _, tc := range []struct {
		parts []*ReplayResults
		want  string
	}{
		{[]*ReplayResults{parts[0], &faster, parts[2]}, "--rate"},
		{[]*ReplayResults{parts[0], parts[1]}, "missing"},
		{[]*ReplayResults{parts[0], parts[0], parts[2]}, "both segment"},
		{[]*ReplayResults{whole, parts[1], parts[2]}, "not a segment"},
	} {
		if _, err := MergeReplays(names[:len(tc.parts)], tc.parts); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Expected: an error saying %q\nActual:   %v", tc.want, err)
		}
	}
}
