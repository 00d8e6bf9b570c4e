package conformance

import (
	"context"
	"fmt"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"mpcrelay/conformance/breakage"
	"mpcrelay/faultproxy"
)

// selfTestECDSA includes 7/ecdsa-keygen-and-sign in the self-test. One ECDSA keygen takes tens of
// seconds (minutes under -race on a loaded machine), so by default the self-test proves the
// crypto path with the EdDSA case, which runs the same code.
const selfTestECDSA = "MPCRELAY_SELFTEST_ECDSA"

// TestSelfTest shows that every case can fail and every MUST rule is guarded. It runs the suite
// against broken relays — the reference relay behind a fault-injecting proxy, one breakage per
// proxy — and requires:
//   - each breakage of breakage.All (run against every case that is neither crypto nor slow)
//     to be caught (outcome fail) by some case;
//   - each breakage of breakage.Dedicated (run only against the cases of its rule, or the heavy
//     cases it names) to be caught by a case listed for its rule;
//   - each realistic breakage that names a rule (breakage.Realistic, RealisticOnCompat: bugs the
//     explorer does not reach) to be caught the same way;
//   - every breakage dedicated to a rule to be caught by a case of that rule.
//
// The same cases against the proxy without rules, and against the compat relay (which behaves
// like the original and must pass), get no fail.
func TestSelfTest(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	strictRelay := startReference(t, false)
	compatRelay := startReference(t, true)

	light, err := Select("!crypto && !slow && !browser && !explore", nil) // the explorer has its own self-test (package explore)
	if err != nil {
		t.Fatal(err)
	}
	// the cases each breakage runs against
	against := map[string][]*Case{}
	heavy := map[string]*Case{}
	for _, b := range breakage.All {
		against[b.Name] = light
	}
	for _, b := range slices.Concat(breakage.Dedicated, realisticByRule) {
		cases, err := casesFor(b, light)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range cases {
			if !slices.Contains(light, c) {
				heavy[c.ID] = c
			}
		}
		against[b.Name] = cases
	}
	var heavyCases []*Case
	for _, c := range heavy {
		heavyCases = append(heavyCases, c)
	}
	var nonCrypto []*Case
	for _, c := range heavyCases {
		if !slices.Contains(c.Labels, "crypto") {
			nonCrypto = append(nonCrypto, c)
		}
	}

	clean, err := faultproxy.Start(strictRelay.URL(), faultproxy.Options{})
	if err != nil {
		t.Fatal(err)
	}
	proxies := []*faultproxy.Proxy{clean}
	defer func() { closeAll(proxies) }()
	targets := []Target{{Name: "clean-proxy", URL: clean.URL()}, {Name: "compat-relay", URL: compatRelay.URL()}}
	against["clean-proxy"] = append(slices.Clone(light), heavyCases...)
	against["compat-relay"] = append(slices.Clone(light), nonCrypto...)
	for _, b := range slices.Concat(breakage.All, breakage.Dedicated, realisticByRule) {
		base := strictRelay.URL()
		if onCompatByRule[b.Name] {
			base = compatRelay.URL()
		}
		p, err := faultproxy.Start(base, faultproxy.Options{}, b.Rules()...)
		if err != nil {
			t.Fatal(err)
		}
		proxies = append(proxies, p)
		targets = append(targets, Target{Name: b.Name, URL: p.URL()})
	}
	// Two runs at once. The light one keeps its timeout short, since broken relays make many
	// cases wait it out: 2s, 4s under -race. The heavy one (slow and crypto cases) moves
	// megabytes per case, which under -race on a loaded machine takes seconds: 5s, 10s.
	light1 := 2 * time.Second * time.Duration(min(raceSlowdown, 2))
	heavy1 := DefaultTimeout * time.Duration(min(raceSlowdown, 2))
	var reps [2]*Report
	var errs [2]error
	var wg sync.WaitGroup
	for i, set := range [][]*Case{light, heavyCases} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			timeout, parallel := light1, 8
			if i == 1 {
				timeout, parallel = heavy1, 3
			}
			reps[i], errs[i] = Run(ctx, Options{Targets: targets, Cases: set, Parallel: parallel,
				Config: Config{Timeout: timeout, QuietWindow: 100 * time.Millisecond},
				Pairs:  func(tg Target, c *Case) bool { return slices.Contains(against[tg.Name], c) }})
		}()
	}
	wg.Wait()
	var results []Result
	var wall int64
	for i, rep := range reps {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		for _, e := range rep.HarnessErrors {
			t.Error(e)
		}
		results = append(results, rep.Cases...)
		wall = max(wall, rep.DurationMS)
	}
	all := append(slices.Clone(light), heavyCases...)
	byTarget := map[string][]Result{}
	for _, r := range results {
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
	proven := map[string][]string{} // rule → breakages caught by a case of the rule
	for _, b := range slices.Concat(breakage.All, breakage.Dedicated, realisticByRule) {
		var caught, byRule []string
		var rule Rule
		if b.Rule != "" {
			rule, _ = LookupRule(b.Rule)
		}
		for _, r := range byTarget[b.Name] {
			if r.Outcome == Error {
				t.Errorf("breakage %s: %s ended in error: %s", b.Name, r.ID, r.Detail)
			}
			if r.Outcome != Fail {
				continue
			}
			caught = append(caught, r.ID)
			shownToFail[r.ID] = true
			if slices.Contains(rule.Cases, r.ID) {
				byRule = append(byRule, r.ID)
			}
		}
		switch {
		case len(caught) == 0:
			t.Errorf("breakage %s (%s) is caught by no case", b.Name, b.Description)
		case b.Rule != "" && len(byRule) == 0:
			t.Errorf("breakage %s (%s) is caught only by %s, none of which checks its rule %s (cases %s)",
				b.Name, b.Description, strings.Join(caught, " "), b.Rule, strings.Join(rule.Cases, " "))
		case b.Rule != "":
			proven[b.Rule] = append(proven[b.Rule], b.Name)
		}
		ruleNote := ""
		if b.Rule != "" {
			ruleNote = " [" + b.Rule + "]"
		}
		lines = append(lines, fmt.Sprintf("%-36s caught by %2d of %3d%s: %s", b.Name, len(caught), len(byTarget[b.Name]), ruleNote, strings.Join(caught, " ")))
	}
	var must, mustProven int
	var unproven []string
	for _, r := range Rules() {
		if r.Level != Must {
			continue
		}
		must++
		if len(proven[r.ID]) > 0 {
			mustProven++
		} else {
			unproven = append(unproven, r.ID)
		}
	}
	if len(unproven) > 0 {
		t.Errorf("MUST rules without a dedicated breakage caught by one of their cases: %s", strings.Join(unproven, " "))
	}
	// Cases no breakage has made fail yet: the self-test's open coverage, reported, not hidden.
	var notShown []string
	for _, r := range byTarget["clean-proxy"] {
		if !shownToFail[r.ID] {
			notShown = append(notShown, r.ID)
		}
	}
	sort.Strings(notShown)
	t.Logf("self-test: %d targets, %d runs of %d cases in %.1fs\n%s\n"+
		"MUST rules with a dedicated breakage caught by one of their cases: %d of %d\n"+
		"%d of %d cases shown to fail; not yet by any breakage: %s",
		len(targets), len(results), len(all), float64(wall)/1000, strings.Join(lines, "\n"),
		mustProven, must, len(shownToFail), len(byTarget["clean-proxy"]), strings.Join(notShown, " "))
}

// realisticByRule are the realistic breakages that name a rule (the bugs the explorer does not
// reach), and onCompatByRule those of them that sit behind the compat relay.
var realisticByRule, onCompatByRule = func() ([]breakage.Breakage, map[string]bool) {
	var list []breakage.Breakage
	onCompat := map[string]bool{}
	for _, b := range breakage.Realistic {
		if b.Rule != "" {
			list = append(list, b)
		}
	}
	for _, b := range breakage.RealisticOnCompat {
		if b.Rule != "" {
			list = append(list, b)
			onCompat[b.Name] = true
		}
	}
	return list, onCompat
}()

// closeAll closes the proxies at once (a proxy waits for its pumps).
func closeAll(proxies []*faultproxy.Proxy) {
	var wg sync.WaitGroup
	for _, p := range proxies {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = p.Close()
		}()
	}
	wg.Wait()
}

// casesFor returns the cases a dedicated breakage runs against: the ones it names, or the light
// cases of its rule. The ECDSA case joins only when MPCRELAY_SELFTEST_ECDSA is set.
func casesFor(b breakage.Breakage, light []*Case) ([]*Case, error) {
	if len(b.Cases) > 0 {
		cases, err := Select("", b.Cases)
		if err != nil {
			return nil, err
		}
		cases = slices.DeleteFunc(cases, func(c *Case) bool {
			return c.ID == "7/ecdsa-keygen-and-sign" && os.Getenv(selfTestECDSA) == ""
		})
		if len(cases) == 0 {
			return nil, fmt.Errorf("breakage %s names no known case: %v", b.Name, b.Cases)
		}
		return cases, nil
	}
	rule, ok := LookupRule(b.Rule)
	if !ok {
		return nil, fmt.Errorf("breakage %s: unknown rule %q", b.Name, b.Rule)
	}
	var out []*Case
	for _, c := range light {
		if slices.Contains(rule.Cases, c.ID) {
			out = append(out, c)
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("breakage %s: rule %s has no case the self-test runs", b.Name, b.Rule)
	}
	return out, nil
}
