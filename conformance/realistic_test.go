package conformance

import (
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"mpcrelay/conformance/breakage"
)

// TestHandWrittenSuiteVersusRealisticBreakages runs the hand-written cases against the realistic
// breakages and reports which cases (if any) catch each: those of issue #12 (no Rule) show why
// the model-based explorer exists (each is caught by the explorer, see package explore); those
// with a Rule are the red-team pass's bugs the explorer does not reach, which a case of that
// rule catches (TestSelfTest requires it). It takes minutes with the crypto cases, so it runs
// only when asked: MPCRELAY_REALISTIC_SUITE=1 (without crypto) or =crypto (everything but the
// exploration).
func TestHandWrittenSuiteVersusRealisticBreakages(t *testing.T) {
	mode := os.Getenv("MPCRELAY_REALISTIC_SUITE")
	if mode == "" {
		t.Skip("set MPCRELAY_REALISTIC_SUITE=1 (or =crypto) to run the hand-written suite against the realistic breakages")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	strict := startReference(t, false)
	compat := startReference(t, true)
	var targets []Target
	var names []string
	add := func(b breakage.Breakage, base string) {
		p := startProxy(t, base, b.Rules()...)
		targets = append(targets, Target{Name: b.Name, URL: p.URL()})
		names = append(names, b.Name)
	}
	for _, b := range breakage.Realistic {
		add(b, strict.URL())
	}
	for _, b := range breakage.RealisticOnCompat {
		add(b, compat.URL())
	}
	filter := "!crypto && !explore"
	if mode == "crypto" {
		filter = "!explore"
	}
	cases, err := Select(filter, nil)
	if err != nil {
		t.Fatal(err)
	}
	rep, err := Run(ctx, Options{Targets: targets, Cases: cases, Parallel: 4, Config: Config{Timeout: 5 * time.Second * time.Duration(raceSlowdown)}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.HarnessErrors {
		t.Error(e)
	}
	var lines []string
	for _, name := range names {
		var caught []string
		for _, r := range rep.Cases {
			if r.Target == name && (r.Outcome == Fail || r.Outcome == Error) {
				caught = append(caught, r.ID+" ("+string(r.Outcome)+")")
			}
		}
		lines = append(lines, fmt.Sprintf("%-30s %d cases fail: %s", name, len(caught), strings.Join(caught, " ")))
	}
	t.Logf("hand-written suite (%s, %d cases) against the realistic breakages:\n%s", filter, len(cases), strings.Join(lines, "\n"))
	if os.Getenv("MPCRELAY_REALISTIC_DETAIL") != "" {
		for _, r := range rep.Cases {
			if r.Outcome == Fail || r.Outcome == Error {
				t.Logf("%s [%s]: %s\n%s", r.ID, r.Target, r.Detail, r.Transcript)
			}
		}
	}
}
