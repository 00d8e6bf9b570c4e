package conformance

import (
	"fmt"
	"io"
	"strings"
)

// CoverageSummary counts the rule table: how many rules, how many MUST rules have a case, and
// how many MUST rules have a breakage dedicated to them.
type CoverageSummary struct {
	Rules, Must, MustWithCase, MustWithBreakage int
}

// Coverage counts the rule table against breakages (rule id → names of the breakages that
// violate that rule alone).
func Coverage(breakages map[string][]string) CoverageSummary {
	var s CoverageSummary
	for _, r := range Rules() {
		s.Rules++
		if r.Level != Must {
			continue
		}
		s.Must++
		if len(r.Cases) > 0 {
			s.MustWithCase++
		}
		if len(breakages[r.ID]) > 0 {
			s.MustWithBreakage++
		}
	}
	return s
}

// WriteCoverage prints the rule table: each rule with its level and text, the cases that check
// it and the breakages (self-test) that prove those cases catch its violation.
func WriteCoverage(w io.Writer, breakages map[string][]string) {
	for _, r := range Rules() {
		fmt.Fprintf(w, "%-40s %-6s %s\n", r.ID, r.Level, r.Text)
		fmt.Fprintf(w, "    cases:     %s\n", orNone(r.Cases))
		if r.Level == Must || len(breakages[r.ID]) > 0 {
			fmt.Fprintf(w, "    breakages: %s\n", orNone(breakages[r.ID]))
		}
	}
	s := Coverage(breakages)
	fmt.Fprintf(w, "%d rules, %d of them MUST: %d MUST rules checked by a case, %d with a dedicated breakage\n",
		s.Rules, s.Must, s.MustWithCase, s.MustWithBreakage)
}

func orNone(list []string) string {
	if len(list) == 0 {
		return "NONE"
	}
	return strings.Join(list, " ")
}
