package spec

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func TestExamplesParse(t *testing.T) {
	files, err := filepath.Glob("../examples/*.yaml")
	if err != nil || len(files) < 6 {
		t.Fatalf("want at least 6 example scenarios, got %d (%v)", len(files), err)
	}
	for _, f := range files {
		if _, err := Load(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}

func TestParseAppliesDefaults(t *testing.T) {
	s, err := Parse("x.yaml", []byte("name: x\ncurve: eddsa\nthreshold: 1\nparties: 3\n"))
	if err != nil {
		t.Fatal(err)
	}
	if s.Mode != ModeBench || s.Groups != 1 || s.Keygens != 1 || s.Join != JoinSignup ||
		s.Timeout != DefaultTimeout || s.Expect.Outcome != OutcomeVerified {
		t.Errorf("defaults not applied: %+v", s)
	}
}

func TestParseJSON(t *testing.T) {
	src := `{
  "name": "j",
  "curve": "ecdsa",
  "threshold": 1,
  "parties": 3,
  "timeout": "45s",
  "faults": [{"kind": "latency", "latency": "10ms"}]
}`
	s, err := Parse("j.json", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if s.Timeout.D() != 45*time.Second || len(s.Faults) != 1 || s.Faults[0].Latency.D() != 10*time.Millisecond {
		t.Errorf("decoded %+v", s)
	}
	bad := strings.Replace(src, `"parties": 3`, `"parties": "three"`, 1)
	expectError(t, "j.json", bad, "j.json:5: parties: want an integer")
}

// expectError parses src and wants an error containing every fragment.
func expectError(t *testing.T, name, src string, fragments ...string) {
	t.Helper()
	_, err := Parse(name, []byte(src))
	if err == nil {
		t.Fatalf("Parse accepted:\n%s", src)
	}
	var fe *FieldError
	if !errors.As(err, &fe) {
		t.Errorf("error is not a *FieldError: %T %v", err, err)
	}
	for _, f := range fragments {
		if !strings.Contains(err.Error(), f) {
			t.Errorf("Expected: error containing %q\nActual:   %v", f, err)
		}
	}
}

const base = "name: x\ncurve: eddsa\nthreshold: 1\nparties: 3\n"

func TestInvalidFilesNameFieldAndLine(t *testing.T) {
	cases := []struct {
		name, src string
		want      []string
	}{
		{"unknown field", base + "grups: 2\n", []string{"s.yaml:5: grups: unknown field"}},
		{"wrong type", base + "groups: many\n", []string{`s.yaml:5: groups: want an integer, got "many"`}},
		{"duplicate key", base + "curve: ecdsa\n", []string{"s.yaml:5: curve: field given twice"}},
		{"bad duration", base + "timeout: soon\n", []string{"s.yaml:5: timeout: want a duration"}},
		{"threshold too large §4.1", "name: x\ncurve: eddsa\nthreshold: 3\nparties: 3\n", []string{"s.yaml:3: threshold: must be less than parties"}},
		{"unknown curve", "name: x\ncurve: rsa\nthreshold: 1\nparties: 3\n", []string{`s.yaml:2: curve: unknown curve "rsa"`}},
		{"missing curve points at the document", "name: x\nthreshold: 1\nparties: 3\n", []string{"s.yaml:1: curve: required"}},
		{"nested unknown field", base + "faults:\n  - kind: latency\n    latncy: 5ms\n", []string{"s.yaml:7: faults[0].latncy: unknown field"}},
		{"fault party out of range", base + "faults:\n  - kind: disconnect\n    phase: keygen\n    round: 1\n    party: 9\nexpect:\n  outcome: failure\n  missing: [3]\n  within: 10s\n",
			[]string{"s.yaml:9: faults[0].party: party must be between 1 and 3"}},
		{"unknown fault kind", base + "faults:\n  - kind: meteor\n", []string{`s.yaml:6: faults[0].kind: unknown fault "meteor"`}},
		{"never-signup of a middle number", base + "faults:\n  - kind: never-signup\n    party: 2\n    phase: keygen\nexpect:\n  outcome: failure\n  missing: [2]\n  within: 5s\n",
			[]string{"s.yaml:7: faults[0].party: keygen numbers are issued in signup order"}},
		{"failure without missing", base + "faults:\n  - kind: never-signup\n    party: 3\n    phase: keygen\nexpect:\n  outcome: failure\n  within: 5s\n",
			[]string{"s.yaml:9: expect.missing: a failure must name"}},
		{"verified with a dropout", base + "faults:\n  - kind: never-signup\n    party: 3\n    phase: keygen\nexpect:\n  outcome: verified\n",
			[]string{"s.yaml:10: expect.outcome: a scenario with a disconnect"}},
		{"list where a mapping belongs", base + "expect: [verified]\n", []string{"s.yaml:5: expect: want a mapping of fields, got a list"}},
		{"replay with curve", "name: r\nmode: replay\ncurve: ecdsa\n", []string{"s.yaml:3: curve: does not apply to a replay scenario"}},
		{"replay with dropout", "name: r\nmode: replay\nfaults:\n  - kind: disconnect\n", []string{"s.yaml:4: faults[0].kind: a replay scenario takes only"}},
		{"replay rate the schedule cannot hold", "name: r\nmode: replay\nrate: 1e-12\n", []string{"s.yaml:3: rate: must be 0 or at least 1.084e-10 sessions/s"}},
		{"syntax error", base + "faults: [\n", []string{"s.yaml:", "not valid YAML or JSON"}},
		{"two documents", base + "---\n" + base, []string{"s.yaml:5: a scenario file holds one document"}},
		{"empty", "", []string{"empty scenario file"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) { expectError(t, "s.yaml", c.src, c.want...) })
	}
}

func TestEveryMistakeIsReported(t *testing.T) {
	_, err := Parse("s.yaml", []byte("name: x\ncurve: rsa\nthreshold: 0\nparties: 1\n"))
	for _, want := range []string{"s.yaml:2: curve", "s.yaml:3: threshold", "s.yaml:4: parties"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Expected: an error containing %q\nActual:   %v", want, err)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	if _, err := Load(filepath.Join(t.TempDir(), "nope.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("want a not-exist error, got %v", err)
	}
}
