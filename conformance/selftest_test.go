package conformance

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"mpcrelay/conformance/breakage"
	"mpcrelay/faultproxy"
)

// TestSelfTest shows that every case can fail: it runs the non-crypto, non-slow cases against
// broken relays — the reference relay behind a fault-injecting proxy, one breakage per proxy —
// and checks that each breakage is caught (outcome fail) by at least one case. The same suite
// against the proxy without rules must get no fail, and against the compat relay no fail either
// (a relay behaving like the original must pass).
func TestSelfTest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	strictRelay, err := StartEmbedded(ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	defer strictRelay.Shutdown(context.Background())
	compatRelay, err := StartEmbedded(ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	defer compatRelay.Shutdown(context.Background())

	clean, err := faultproxy.Start(strictRelay.URL(), faultproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer clean.Close()
	targets := []Target{{Name: "clean-proxy", URL: clean.URL()}, {Name: "compat-relay", URL: compatRelay.URL()}}
	for _, b := range breakage.All {
		p, err := faultproxy.Start(strictRelay.URL(), faultproxy.Options{}, b.Rules()...)
		if err != nil {
			t.Fatal(err)
		}
		defer p.Close()
		targets = append(targets, Target{Name: b.Name, URL: p.URL()})
	}
	cases, err := Select("!crypto && !slow && !browser", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Broken relays make many cases wait out the timeout, so it stays short: 2s, 4s under -race
	// (cases excluded here — the slow label — move the big frames).
	timeout := 2 * time.Second * time.Duration(min(raceSlowdown, 2))
	rep, err := Run(ctx, Options{Targets: targets, Cases: cases, Parallel: 8,
		Config: Config{Timeout: timeout, QuietWindow: 100 * time.Millisecond}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.HarnessErrors {
		t.Error(e)
	}
	byTarget := map[string][]Result{}
	for _, r := range rep.Cases {
		byTarget[r.Target] = append(byTarget[r.Target], r)
	}
	for _, name := range []string{"clean-proxy", "compat-relay"} {
		for _, r := range byTarget[name] {
			if r.Outcome == Fail || r.Outcome == Error {
				t.Errorf("%s: %s %s: %s\n%s", name, r.ID, r.Outcome, r.Detail, r.Transcript)
			}
		}
	}
	var lines []string
	shownToFail := map[string]bool{}
	for _, b := range breakage.All {
		var caught []string
		for _, r := range byTarget[b.Name] {
			if r.Outcome == Fail {
				caught = append(caught, r.ID)
				shownToFail[r.ID] = true
			}
		}
		if len(caught) == 0 {
			t.Errorf("breakage %s (%s) is caught by no case", b.Name, b.Description)
		}
		lines = append(lines, fmt.Sprintf("%-28s caught by %2d: %s", b.Name, len(caught), strings.Join(caught, " ")))
	}
	// Cases no breakage has made fail yet: the self-test's open coverage, reported, not hidden.
	var notShown []string
	for _, r := range byTarget["clean-proxy"] {
		if !shownToFail[r.ID] {
			notShown = append(notShown, r.ID)
		}
	}
	sort.Strings(notShown)
	t.Logf("self-test: %d targets × %d cases in %.1fs\n%s\n%d of %d cases shown to fail; not yet by any breakage: %s",
		len(targets), len(cases), float64(rep.DurationMS)/1000, strings.Join(lines, "\n"),
		len(shownToFail), len(byTarget["clean-proxy"]), strings.Join(notShown, " "))
}
