package conformance

import (
	"context"
	"slices"
	"testing"
	"time"

	"mpcrelay/conformance/breakage"
	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// The racy relays of breakage.Realistic rewrite the answer of a request that raced with another
// connection's. Which of the two the relay answers first is the relay's choice (two read pumps),
// and on a loaded machine it is often the one the proxy saw second: a racy relay must be caught
// either way. Here the proxy holds back the first request of each burst, so the relay answers
// the second first (the self-test once missed concurrent-loads-same-number so in CI, when
// only the request seen second was rewritten).
func TestRaceBreakagesCaughtWhicheverIsAnsweredFirst(t *testing.T) {
	strict := startReference(t, false)
	light, err := Select("!crypto && !slow && !browser && !explore", nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"concurrent-loads-same-number", "concurrent-signups-same-number", "concurrent-joins-overfill-group"} {
		i := slices.IndexFunc(breakage.Realistic, func(b breakage.Breakage) bool { return b.Name == name })
		if i < 0 {
			t.Fatalf("no realistic breakage %s", name)
		}
		b := breakage.Realistic[i]
		cases, err := casesFor(b, light)
		if err != nil {
			t.Fatal(err)
		}
		cases = slices.DeleteFunc(cases, func(c *Case) bool { return !slices.Contains(c.Labels, "concurrency") })
		if len(cases) == 0 {
			t.Fatalf("%s: no concurrency case of its rule %s", name, b.Rule)
		}
		p, err := faultproxy.Start(strict.URL(), faultproxy.Options{}, append(b.Rules(), firstOfBurstLate())...)
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		rep, err := Run(ctx, Options{Targets: []Target{{Name: name, URL: p.URL()}}, Cases: cases, Parallel: 2,
			Config: Config{Timeout: 4 * time.Second * time.Duration(min(raceSlowdown, 2)), QuietWindow: 100 * time.Millisecond}})
		cancel()
		p.Close()
		if err != nil {
			t.Fatal(err)
		}
		caught := false
		for _, r := range rep.Cases {
			caught = caught || r.Outcome == Fail
		}
		if !caught {
			t.Errorf("%s, the relay answering the request seen second first: Expected: caught by one of %d concurrency cases / Actual: every case passed", name, len(cases))
		}
	}
}

// firstOfBurstLate delays by 300 ms, on its way to the relay, a request of a method two
// connections send at once (join, signup, load) when it is the first of its burst (none of
// that method within 100 ms before it); the second goes on at once.
func firstOfBurstLate() faultproxy.Rule {
	last := map[string]time.Time{}
	return faultproxy.Rule{Name: "first-of-burst-late", Dir: faultproxy.ToRelay, Apply: func(f *faultproxy.Frame) {
		m := f.RPC.Method
		if m != protocol.MethodGroupJoin && m != protocol.MethodSessionSignup && m != protocol.MethodSessionLoad {
			return
		}
		if f.At.Sub(last[m]) > 100*time.Millisecond {
			f.Delay(300 * time.Millisecond)
		}
		last[m] = f.At
	}}
}
