package replay

import (
	"context"
	"strconv"
	"strings"
	"testing"
	"time"

	"mpcrelay/faultproxy"
	"mpcrelay/forwarder"
	"mpcrelay/relay"
	"mpcrelay/relay/protocol"
	"mpcrelay/scenarios/trace"
)

// syntheticTrace is a 3-party keygen and a 2-of-3 sign with the shape of GG18: broadcasts and
// peer-to-peer messages over three rounds.
func syntheticTrace(t *testing.T) *trace.Trace {
	t.Helper()
	var b strings.Builder
	b.WriteString(`{"type":"session","session":"kg","curve":"eddsa","kind":"keygen","parties":3,"threshold":1,"members":[1,2,3]}` + "\n")
	off := 0
	line := func(session string, round, sender int, receiver string, size int) {
		off += 100
		b.WriteString(`{"type":"message","session":"` + session + `","offset_us":` + itoa(off) + `,"round":` + itoa(round) +
			`,"sender":` + itoa(sender) + `,"receiver":` + receiver + `,"size":` + itoa(size) + "}\n")
	}
	for p := 1; p <= 3; p++ {
		line("kg", 1, p, "null", 300)
	}
	for p := 1; p <= 3; p++ {
		for q := 1; q <= 3; q++ {
			if p != q {
				line("kg", 2, p, itoa(q), 2000)
			}
		}
		line("kg", 2, p, "null", 500)
	}
	for p := 1; p <= 3; p++ {
		line("kg", 3, p, "null", 100)
	}
	b.WriteString(`{"type":"session","session":"sg","curve":"eddsa","kind":"sign","parties":3,"threshold":1,"members":[1,3]}` + "\n")
	for r := 1; r <= 3; r++ {
		line("sg", r, 1, "3", 200)
		line("sg", r, 3, "null", 200)
	}
	tr, err := trace.Read(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func itoa(n int) string { return strconv.Itoa(n) }

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	return ctx
}

func startRelay(t *testing.T) string {
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	inst, err := relay.Start(ctxT(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Shutdown(context.Background()) })
	return inst.URL()
}

func wantClean(t *testing.T, res *Result, sessions int64) {
	t.Helper()
	if !res.Clean() {
		t.Errorf("Expected: a clean replay\nActual:   %+v", res)
	}
	if res.SessionsCompleted != sessions || res.Delivered != res.Expected || res.Expected == 0 {
		t.Errorf("Expected: %d sessions, every delivery\nActual:   %d sessions, %d of %d deliveries", sessions, res.SessionsCompleted, res.Delivered, res.Expected)
	}
	if res.Latency.Count != int(res.Delivered) {
		t.Errorf("latency samples %d, deliveries %d", res.Latency.Count, res.Delivered)
	}
}

func TestReplayThroughRelayDeliversEveryFrameOnce(t *testing.T) {
	tr := syntheticTrace(t)
	res, err := Run(ctxT(t), Config{URL: startRelay(t), Trace: tr, Groups: 4})
	if err != nil {
		t.Fatal(err)
	}
	wantClean(t, res, 4)
	// 2 keygen groups: 3 bcast·2 + 6 p2p + 3 bcast·2 + 3 bcast·2 = 24; 2 sign groups: 3 p2p + 3 bcast·1 = 6.
	if res.Expected != 2*24+2*6 {
		t.Errorf("Expected: 60 deliveries\nActual:   %d", res.Expected)
	}
	if res.Connections != 12 || res.Filtered != 0 {
		t.Errorf("connections %d, filtered %d", res.Connections, res.Filtered)
	}
}

func TestReplayThroughForwarderFiltersOthersMessages(t *testing.T) {
	url, shutdown, err := forwarder.Start(ctxT(t), "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = shutdown(context.Background()) })
	res, err := Run(ctxT(t), Config{URL: url, Target: TargetForwarder, Trace: syntheticTrace(t), Groups: 4, Duration: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wantClean(t, res, res.SessionsCompleted)
	if res.SessionsCompleted < 4 || res.Filtered == 0 {
		t.Errorf("Expected: repeated sessions and filtered copies\nActual:   %d sessions, %d filtered", res.SessionsCompleted, res.Filtered)
	}
}

// §4.7: a frame delivered twice is reported as duplicated, never as a second delivery.
func TestReplayReportsDuplicatedFrames(t *testing.T) {
	p, err := faultproxy.Start(startRelay(t), faultproxy.Options{},
		faultproxy.Duplicate("dup events", faultproxy.ToClient, faultproxy.Event(protocol.EventSessionMessage)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	res, err := Run(ctxT(t), Config{URL: p.URL(), Trace: syntheticTrace(t), Groups: 2})
	if err != nil {
		t.Fatal(err)
	}
	if res.Duplicated != res.Expected || res.Delivered != res.Expected || res.Clean() {
		t.Errorf("Expected: %d duplicates, not clean\nActual:   %+v", res.Expected, res)
	}
}

// A dropped frame is lost: the session times out and the count names the missing deliveries.
func TestReplayReportsLostFrames(t *testing.T) {
	dropped := false
	p, err := faultproxy.Start(startRelay(t), faultproxy.Options{}, faultproxy.Rule{
		Name: "drop one", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage),
		Apply: func(f *faultproxy.Frame) {
			if !dropped {
				dropped = true
				f.Drop()
			}
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	res, err := Run(ctxT(t), Config{URL: p.URL(), Trace: syntheticTrace(t), Groups: 1, SessionTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if res.Lost == 0 || res.SessionsFailed != 1 || res.Clean() {
		t.Errorf("Expected: lost deliveries and a failed session\nActual:   %+v", res)
	}
}

func TestPlanFallsBackToOffsetRuleWhenRoundsAreNotCausal(t *testing.T) {
	src := `{"type":"session","session":"s","curve":"eddsa","kind":"keygen","parties":2,"threshold":1,"members":[1,2]}
{"type":"message","session":"s","offset_us":1,"round":2,"sender":1,"receiver":null,"size":10}
{"type":"message","session":"s","offset_us":2,"round":1,"sender":2,"receiver":null,"size":10}
{"type":"message","session":"s","offset_us":3,"round":3,"sender":1,"receiver":null,"size":10}
`
	tr, err := trace.Read(strings.NewReader(src))
	if err != nil {
		t.Fatal(err)
	}
	p, err := newPlan(tr.Sessions[0], false)
	if err != nil {
		t.Fatal(err)
	}
	if p.rule != RuleOffset {
		t.Errorf("Expected: rule %s\nActual:   %s", RuleOffset, p.rule)
	}
	res, err := Run(ctxT(t), Config{URL: startRelay(t), Trace: tr, Groups: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantClean(t, res, 2)
}

func TestReplayBodyKeepsRecordedSize(t *testing.T) {
	m := trace.Message{Size: 1000}
	b, _ := replayBody(7, &m, false)
	if len(b) != 1000 {
		t.Errorf("Expected: 1000 bytes\nActual:   %d", len(b))
	}
	if i, ok := bodyIndex(b); !ok || i != 7 {
		t.Errorf("index %d %v", i, ok)
	}
}
