package conformance

import (
	"fmt"
	"os"

	"sigs.k8s.io/yaml"
)

// Outcome of one case against one relay.
type Outcome string

const (
	Pass      Outcome = "pass"
	Fail      Outcome = "fail"       // a MUST broken
	NonStrict Outcome = "non-strict" // a SHOULD not met, or a COMPAT behaviour
	InfoOnly  Outcome = "info"       // reports which allowed behaviour the relay chose
	Skipped   Outcome = "skipped"
	Error     Outcome = "error" // the harness could not run the case
	Flaky     Outcome = "flaky" // --repeat: the outcome differed between runs
)

// Outcomes lists every outcome in report order.
var Outcomes = []Outcome{Pass, Fail, NonStrict, InfoOnly, Skipped, Error, Flaky}

// Bad reports whether the outcome makes a run fail (exit code 1 or 2): fail, error, flaky.
func (o Outcome) Bad() bool { return o == Fail || o == Error || o == Flaky }

func parseOutcome(s string) (Outcome, error) {
	for _, o := range Outcomes {
		if string(o) == s {
			return o, nil
		}
	}
	return "", fmt.Errorf("unknown outcome %q (want one of pass, fail, non-strict, info, skipped, error, flaky)", s)
}

// Expectations map case ids to the outcome a relay is known to have (its known deviations), so
// a fork's CI fails only on new regressions.
type Expectations map[string]Outcome

// LoadExpectations reads an expect file: a YAML map of case id to outcome, e.g.
//
//	4.5/signup-beyond-required-refused: non-strict
//	4.9/proposal-from-non-member-refused: non-strict
func LoadExpectations(path string) (Expectations, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("expect file: %w", err)
	}
	var raw map[string]string
	if err := yaml.UnmarshalStrict(data, &raw); err != nil {
		return nil, fmt.Errorf("expect file %s: %w", path, err)
	}
	out := Expectations{}
	for id, s := range raw {
		if _, ok := Lookup(id); !ok {
			return nil, fmt.Errorf("expect file %s: unknown case id %q", path, id)
		}
		o, err := parseOutcome(s)
		if err != nil {
			return nil, fmt.Errorf("expect file %s: case %s: %w", path, id, err)
		}
		out[id] = o
	}
	return out, nil
}
