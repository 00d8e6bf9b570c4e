package conformance

import (
	"context"
	"fmt"
	"os"
	"slices"
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
	filter := "!crypto && !explore"
	if mode == "crypto" {
		filter = "!explore"
	}
	lines, n := suiteVersus(t, filter, breakage.Realistic, breakage.RealisticOnCompat)
	t.Logf("hand-written suite (%s, %d cases) against the realistic breakages:\n%s", filter, n, strings.Join(lines, "\n"))
}

// TestSuiteVersusCandidates runs every case but the crypto and browser ones — the explorations
// included — against each bug the fourth red-team pass tried (breakage.Candidates, the compat
// ones behind the compat relay) and prints which cases catch each: the "before" column of
// README's round-4 table, re-run at the code at hand. Minutes long, so only when asked:
// MPCRELAY_CANDIDATES=1, or MPCRELAY_CANDIDATES=name,name for some of them.
func TestSuiteVersusCandidates(t *testing.T) {
	want := os.Getenv("MPCRELAY_CANDIDATES")
	if want == "" {
		t.Skip("set MPCRELAY_CANDIDATES=1 (or a comma-separated list of candidate names) to run the whole suite against the round-4 candidates")
	}
	chosen := func(list []breakage.Breakage) []breakage.Breakage {
		if want == "1" {
			return list
		}
		names := strings.Split(want, ",")
		return slices.DeleteFunc(slices.Clone(list), func(b breakage.Breakage) bool { return !slices.Contains(names, b.Name) })
	}
	lines, n := suiteVersus(t, "!crypto && !browser", chosen(breakage.Candidates), chosen(breakage.CandidatesOnCompat))
	t.Logf("whole suite (%d cases, explore included) against the round-4 candidates:\n%s", n, strings.Join(lines, "\n"))
}

// suiteVersus runs the cases filter selects against each breakage (strict ones behind the strict
// reference relay, compat ones behind the compat relay) and returns a line per breakage naming
// the cases that failed or erred on it ("PASSED" when none did), and the number of cases.
// MPCRELAY_REALISTIC_DETAIL=1 logs every failure's transcript.
func suiteVersus(t *testing.T, filter string, strictOnes, compatOnes []breakage.Breakage) ([]string, int) {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Minute)
	defer cancel()
	strict := startReference(t, false)
	compat := startReference(t, true)
	var targets []Target
	var all []breakage.Breakage
	add := func(b breakage.Breakage, base string) {
		p := startProxy(t, base, b.Rules()...)
		targets = append(targets, Target{Name: b.Name, URL: p.URL()})
		all = append(all, b)
	}
	for _, b := range strictOnes {
		add(b, strict.URL())
	}
	for _, b := range compatOnes {
		add(b, compat.URL())
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
	for _, b := range all {
		var caught []string
		for _, r := range rep.Cases {
			if (r.Target == b.Name || len(targets) == 1) && (r.Outcome == Fail || r.Outcome == Error) { // one target: results carry no name
				caught = append(caught, r.ID+" ("+string(r.Outcome)+")")
			}
		}
		verdict := strings.Join(caught, " ")
		if len(caught) == 0 {
			verdict = "PASSED"
		}
		rule := b.Rule
		if rule == "" {
			rule = "-"
		}
		lines = append(lines, fmt.Sprintf("%-40s %-32s %d cases fail: %s", b.Name, rule, len(caught), verdict))
	}
	if os.Getenv("MPCRELAY_REALISTIC_DETAIL") != "" {
		for _, r := range rep.Cases {
			if r.Outcome == Fail || r.Outcome == Error {
				t.Logf("%s [%s]: %s\n%s", r.ID, r.Target, r.Detail, r.Transcript)
			}
		}
	}
	return lines, len(cases)
}
