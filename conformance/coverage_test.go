package conformance

import (
	"slices"
	"strings"
	"testing"

	"mpcrelay/conformance/breakage"
)

// The rule table is whole: every rule names known cases, every MUST rule has a case, every case
// checks some rule.
func TestRuleTable(t *testing.T) {
	for _, p := range CheckRules() {
		t.Error(p)
	}
}

// Every MUST rule has a breakage dedicated to it, and every breakage names a known rule (the
// self-test then shows a case of that rule catching it).
func TestEveryMustRuleHasABreakage(t *testing.T) {
	byRule := breakage.ByRule()
	names := map[string]bool{}
	for _, b := range slices.Concat(breakage.All, breakage.Dedicated, breakage.Realistic, breakage.RealisticOnCompat) {
		if names[b.Name] {
			t.Errorf("two breakages are named %s", b.Name)
		}
		names[b.Name] = true
		if b.Rule == "" {
			continue
		}
		if _, ok := LookupRule(b.Rule); !ok {
			t.Errorf("breakage %s names unknown rule %q", b.Name, b.Rule)
		}
	}
	for _, b := range breakage.Dedicated {
		if b.Rule == "" {
			t.Errorf("dedicated breakage %s names no rule", b.Name)
		}
		if len(b.Cases) > 0 {
			if cases, err := Select("", b.Cases); err != nil || len(cases) != len(b.Cases) {
				t.Errorf("breakage %s names cases %v; known: %d (%v)", b.Name, b.Cases, len(cases), err)
			}
		}
	}
	for _, r := range Rules() {
		if r.Level == Must && len(byRule[r.ID]) == 0 {
			t.Errorf("MUST rule %s has no dedicated breakage", r.ID)
		}
	}
}

func TestCoverageTable(t *testing.T) {
	var out strings.Builder
	WriteCoverage(&out, breakage.ByRule())
	text := out.String()
	for _, want := range []string{"4.5.event-exactly-once", "signup-event-twice", "4.5/signup-event-exactly-once", "MUST rules checked by a case"} {
		if !strings.Contains(text, want) {
			t.Errorf("coverage table lacks %q", want)
		}
	}
	s := Coverage(breakage.ByRule())
	if s.Must == 0 || s.MustWithCase != s.Must || s.MustWithBreakage != s.Must {
		t.Errorf("coverage %+v: every MUST rule needs a case and a breakage", s)
	}
}
