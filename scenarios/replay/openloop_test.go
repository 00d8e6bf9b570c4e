package replay

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/trace"
	"mpcrelay/scenarios/usage"
)

// wrk2's point: a stalled relay delays the sessions due during the stall, and their latency
// counts from when they were due, not from when the busy generator got round to them.
func TestOpenLoopCountsLatencyFromDueTime(t *testing.T) {
	var stalled atomic.Bool
	p, err := faultproxy.Start(startRelay(t), faultproxy.Options{}, faultproxy.Rule{
		Name: "stall once", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage),
		Apply: func(f *faultproxy.Frame) {
			if !stalled.Swap(true) {
				// Long beside the 50 ms between due times and beside what a loaded machine adds to
				// every delivery, so the late starts and the corrected latency stand out.
				f.Delay(time.Second)
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	// 2 s after the stall: the late sessions start one after another on the one group, and a
	// loaded machine's slower sessions leave fewer of them started (with 1 s after the stall, 12
	// started late under -race at load ~6; 37 on a quiet machine).
	res, err := Run(ctxT(t), Config{URL: p.URL(), Trace: syntheticTrace(t), Groups: 1, Rate: 20,
		Duration: 3 * time.Second, TimeScale: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	s := res.Schedule
	if !res.OpenLoop || s == nil || s.SessionsDue != 60 || s.StartedLate < 5 || res.SessionsCompleted+s.NotStarted != 60 {
		t.Fatalf("Expected: 60 sessions due, at least 5 started late behind the stall, the rest not started\nActual:   %+v, %d completed", s, res.SessionsCompleted)
	}
	if res.Delivered != res.Expected || res.Lost+res.Duplicated+res.Misdelivered+res.Corrupt != 0 {
		t.Errorf("Expected: every delivery of the sessions run\nActual:   %+v", res)
	}
	t.Logf("late %d of %d, not started %d; corrected p90 %v, uncorrected p90 %v", s.StartedLate, s.SessionsDue, s.NotStarted, res.Latency.P90, res.LatencyUncorrected.P90)
	if res.Latency.P90 < 100 || res.LatencyUncorrected.P90 > res.Latency.P90/2 {
		t.Errorf("Expected: corrected p90 ≥ 100 ms and at least twice the uncorrected\nActual:   corrected %+v, uncorrected %+v", res.Latency, res.LatencyUncorrected)
	}
	if h, err := report.DecodeHDR(res.LatencyHDR); err != nil || h.TotalCount() != res.Delivered {
		t.Errorf("Expected: the encoded histogram holds every delivery (%d)\nActual:   %v %v", res.Delivered, h.TotalCount(), err)
	}
	if res.OfferedSessionsPerSec != 20 || res.OfferedPerSec != 20*24 {
		t.Errorf("Expected: offered 20 sessions/s, 480 deliveries/s\nActual:   %v, %v", res.OfferedSessionsPerSec, res.OfferedPerSec)
	}
}

// A relay that stops delivering cannot hold the run past its bound: the duration, then one
// session bound for the sessions in flight.
func TestOpenLoopRunEndsWithinItsBound(t *testing.T) {
	p, err := faultproxy.Start(startRelay(t), faultproxy.Options{},
		faultproxy.Drop("black hole", faultproxy.ToClient, faultproxy.Event(protocol.EventSessionMessage)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	// The session timeout also bounds a group's dial through the proxy: 300 ms was too short
	// for that on a loaded machine ("no connection could be made", once at load 12).
	const sessionTimeout = time.Second
	start := time.Now()
	res, err := Run(ctxT(t), Config{URL: p.URL(), Trace: syntheticTrace(t), Groups: 3, Rate: 30,
		Duration: 500 * time.Millisecond, SessionTimeout: sessionTimeout, TimeScale: 0.01})
	if err != nil {
		t.Fatal(err)
	}
	if took := time.Since(start); took > 500*time.Millisecond+2*sessionTimeout+2*time.Second {
		t.Errorf("Expected: the run ends within its bound\nActual:   %s", took)
	}
	if res.Lost == 0 || res.SessionsFailed == 0 || res.Clean() {
		t.Errorf("Expected: lost deliveries, failed sessions\nActual:   %+v", res)
	}
}

// Every connection the generator opened is closed when Run returns (the relay's gauge).
func TestReplayClosesEveryConnection(t *testing.T) {
	url := startRelay(t)
	res, err := Run(ctxT(t), Config{URL: url, Trace: syntheticTrace(t), Groups: 5})
	if err != nil {
		t.Fatal(err)
	}
	wantClean(t, res, 5)
	metrics := strings.Replace(strings.TrimSuffix(url, "/mpc"), "ws://", "http://", 1) + "/metrics"
	deadline := time.Now().Add(5 * time.Second)
	for {
		n := gauge(t, metrics, "mpcrelay_connections")
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("Expected: 0 connections at the relay\nActual:   %v", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func gauge(t *testing.T, url, name string) float64 {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(string(body), "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			var f float64
			_, _ = fmt.Sscan(v, &f)
			return f
		}
	}
	t.Fatalf("%s: no %s", url, name)
	return 0
}

// With the relay's /metrics, the report has the relay's CPU next to the generator's.
func TestUsageReadsRelayMetrics(t *testing.T) {
	url := startRelay(t)
	metrics := strings.Replace(strings.TrimSuffix(url, "/mpc"), "ws://", "http://", 1) + "/metrics"
	res, err := Run(ctxT(t), Config{URL: url, Trace: syntheticTrace(t), Groups: 4, Duration: 300 * time.Millisecond,
		Relay: usage.Source{MetricsURLs: []string{metrics}}})
	if err != nil {
		t.Fatal(err)
	}
	u := res.Usage
	if u == nil || u.Errors != "" || u.GeneratorCPUSec <= 0 || u.RelayCPUSec <= 0 || u.RelayPeakRSS == 0 || u.Deliveries != res.Delivered || u.Saturated == "" {
		t.Errorf("Expected: generator and relay CPU, relay memory, a verdict\nActual:   %+v", u)
	}
}

// Party i of every group connects to URL i mod k.
func TestReplaySpreadsPartiesOverURLs(t *testing.T) {
	url := startRelay(t)
	p, err := faultproxy.Start(url, faultproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	res, err := Run(ctxT(t), Config{URLs: []string{url, p.URL()}, Trace: syntheticTrace(t), Groups: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantClean(t, res, 2)
	// Group 0 replays the 3-party keygen (party 1 of 3 through the proxy), group 1 the 2-of-3
	// sign on 3 connections too: one each.
	if n := len(p.Conns()); n != 2 || res.Connections != 6 || len(res.URLs) != 2 {
		t.Errorf("Expected: 2 of 6 connections through the second URL\nActual:   %d of %d, urls %v", n, res.Connections, res.URLs)
	}
}

// n segments run exactly the groups and sessions of the whole run, none twice.
func TestSegmentsAddUpToTheWholeRun(t *testing.T) {
	url := startRelay(t)
	cfg := Config{URL: url, Trace: syntheticTrace(t), Groups: 7, Rate: 200, Duration: 200 * time.Millisecond, TimeScale: 0.01}
	whole, err := Run(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	var due, groups, deliveries int64
	next := 0
	for i := 1; i <= 3; i++ {
		cfg.Segment = Segment{I: i, N: 3}
		res, err := Run(ctxT(t), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if res.GroupFirst != next || res.GroupsTotal != 7 || res.Segment != cfg.Segment.String() {
			t.Errorf("segment %d: groups from %d of %d, want from %d of 7", i, res.GroupFirst, res.GroupsTotal, next)
		}
		next = res.GroupFirst + res.Groups
		due += res.Schedule.SessionsDue
		groups += int64(res.Groups)
		deliveries += res.Schedule.DeliveriesDue
	}
	if next != 7 || groups != 7 || due != whole.Schedule.SessionsDue || due != 40 {
		t.Errorf("Expected: 7 groups and 40 sessions due, as the whole run\nActual:   %d groups, %d due (whole run %d)", groups, due, whole.Schedule.SessionsDue)
	}
	if deliveries != whole.Schedule.DeliveriesDue {
		t.Errorf("Expected: %d deliveries due over the segments, as the whole run\nActual:   %d", whole.Schedule.DeliveriesDue, deliveries)
	}
}

func TestParseSegment(t *testing.T) {
	for _, bad := range []string{"", "1", "0/3", "4/3", "a/b", "1/0", "-1/2"} {
		if _, err := ParseSegment(bad); err == nil {
			t.Errorf("Expected: %q refused", bad)
		}
	}
	s, err := ParseSegment("2/3")
	if err != nil || s != (Segment{2, 3}) {
		t.Fatal(s, err)
	}
	if a, b := s.Range(10); a != 3 || b != 6 {
		t.Errorf("Expected: groups [3,6) of 10\nActual:   [%d,%d)", a, b)
	}
	if _, err := Run(context.Background(), Config{Trace: syntheticTrace(t), Groups: 2, Segment: Segment{3, 3}}); err == nil {
		t.Error("Expected: an empty segment refused")
	}
}

// A rate so low that the gap between two sessions (1/Rate s) is beyond an int64 of nanoseconds
// (292 years) is refused: its due times wrapped to the past, and the sessions ran back to back
// instead of never. Rates from MinRate up, and 0 (closed loop), are taken.
func TestRateBelowWhatTheScheduleHoldsIsRefused(t *testing.T) {
	for _, rate := range []float64{1e-12, 1e-11, MinRate / 2} {
		_, err := Run(context.Background(), Config{Trace: syntheticTrace(t), Groups: 2, Rate: rate})
		if err == nil || !strings.Contains(err.Error(), "at least 1.084e-10 sessions/s") {
			t.Errorf("rate %v\nExpected: refused, naming the bound 1.084e-10 sessions/s\nActual:   %v", rate, err)
		}
	}
	for _, rate := range []float64{0, MinRate, 1e-6, 1e6} {
		cfg := Config{Trace: syntheticTrace(t), Groups: 2, Rate: rate}
		if err := cfg.check(); err != nil {
			t.Errorf("rate %v\nExpected: taken\nActual:   %v", rate, err)
		}
	}
}

// A due time beyond an int64 of nanoseconds saturates (never) instead of wrapping to the past.
func TestDueTimeSaturates(t *testing.T) {
	for _, c := range []struct {
		k    int
		rate float64
		want int64
	}{
		{0, 1e-12, 0},
		{3, 2, 1_500_000_000},
		{1, 1e-12, math.MaxInt64},         // 1e21 ns; converted as it was, -2^63
		{1 << 40, MinRate, math.MaxInt64}, // a late session of the lowest rate
		{math.MaxInt, 1, math.MaxInt64},   // 2^63 s
		{10, 1e-9, math.MaxInt64},         // 1e19 ns: above 2^63 though the rate is above MinRate
	} {
		if got := dueAt(c.k, c.rate); got != c.want {
			t.Errorf("session %d at %v sessions/s\nExpected: due at %d ns\nActual:   %d", c.k, c.rate, c.want, got)
		}
	}
}

// Without --duration the open loop gives each group one session, the last due at
// (Groups-1)/Rate: the run's bound covers that schedule (a command bounded by it would cut a
// slow schedule short), and a bound too long to hold stays a large positive duration.
func TestBoundCoversTheScheduleWithoutDuration(t *testing.T) {
	c := Config{Rate: 0.01, Groups: 10, SessionTimeout: time.Second}
	if b := c.Bound(); b < 900*time.Second {
		t.Errorf("Expected: a bound past the last session's due time, 900 s\nActual:   %v", b)
	}
	c = Config{Rate: MinRate, Groups: 1 << 20}
	if b := c.Bound(); b <= 0 || b > maxBound {
		t.Errorf("Expected: a bound in (0, %v]\nActual:   %v", maxBound, b)
	}
	c = Config{Rate: 0.01, Groups: 10, Duration: time.Minute, SessionTimeout: time.Second}
	if b := c.Bound(); b > 2*time.Minute {
		t.Errorf("Expected: with a duration, the schedule ends there\nActual:   %v", b)
	}
}

// In the closed loop a message is due when it is sent, so the uncorrected latency is the
// latency itself: recorded once, reported as both.
func TestClosedLoopUncorrectedLatencyIsTheLatency(t *testing.T) {
	src := `{"type":"session","session":"s","curve":"eddsa","kind":"keygen","parties":2,"threshold":1,"members":[1,2]}
{"type":"message","session":"s","offset_us":1,"round":1,"sender":1,"receiver":null,"size":10}
{"type":"message","session":"s","offset_us":2,"round":2,"sender":2,"receiver":null,"size":10}
`
	tr, err := trace.Read(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	res, err := Run(ctxT(t), Config{URL: startRelay(t), Trace: tr, Groups: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantClean(t, res, 2)
	if res.Latency.Count == 0 || res.LatencyUncorrected != res.Latency || res.LatencyUncorrectedHDR != res.LatencyHDR {
		t.Errorf("Expected: the uncorrected latency equal to the latency\nActual:   %+v against %+v", res.LatencyUncorrected, res.Latency)
	}
}

// Messages far larger than a socket takes at once: the pollers' sends stall, their drivers
// finish them, and every delivery arrives whole, once.
func TestClosedLoopLargeMessagesStalledOnAPollerAreFinished(t *testing.T) {
	src := `{"type":"session","session":"s","curve":"eddsa","kind":"keygen","parties":3,"threshold":1,"members":[1,2,3]}
{"type":"message","session":"s","offset_us":1,"round":1,"sender":1,"receiver":null,"size":12000000}
{"type":"message","session":"s","offset_us":2,"round":2,"sender":2,"receiver":null,"size":12000000}
{"type":"message","session":"s","offset_us":3,"round":3,"sender":3,"receiver":null,"size":12000000}
`
	tr, err := trace.Read(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	before := pollerStalls.Load()
	res, err := Run(ctxT(t), Config{URL: startRelay(t), Trace: tr, Groups: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantClean(t, res, 2)
	if pollerStalls.Load() == before && runtime.GOOS == "linux" {
		t.Error("Expected: some poller write left to its driver\nActual:   none (the test no longer exercises the hand-off)")
	}
}
