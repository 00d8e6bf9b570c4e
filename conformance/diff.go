package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
)

// Kinds of change between a baseline run and a new run (Compare).
const (
	ChangeRegression = "regression" // in both runs; bad now (fail, error, flaky), not bad before
	ChangeFixed      = "fixed"      // in both runs; bad before, not bad now
	ChangeChanged    = "changed"    // in both runs; another outcome, neither of the above
	ChangeNew        = "new"        // only in the new run
	ChangeRemoved    = "removed"    // only in the baseline
)

// Change is one case whose outcome differs between two runs.
type Change struct {
	Kind   string  `json:"kind"`
	ID     string  `json:"id"`
	Target string  `json:"target,omitempty"` // several targets only
	Old    Outcome `json:"old,omitempty"`    // absent for a new case
	New    Outcome `json:"new,omitempty"`    // absent for a removed case
	Detail string  `json:"detail,omitempty"` // first line of the new run's detail
}

// Diff is what changed between a baseline run and a new run, in case order within each kind.
type Diff struct {
	Baseline    string   `json:"baseline"` // where the baseline came from
	Regressions []Change `json:"regressions"`
	Fixed       []Change `json:"fixed"`
	Changed     []Change `json:"changed"`
	New         []Change `json:"new"`
	Removed     []Change `json:"removed"`
	Unchanged   int      `json:"unchanged"`
}

// LoadReport reads a results.json (or the results.json inside a report directory).
func LoadReport(path string) (*Report, error) {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		path = filepath.Join(path, "results.json")
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var rep Report
	if err := json.Unmarshal(data, &rep); err != nil {
		return nil, fmt.Errorf("%s: not a conformance results.json: %w", path, err)
	}
	if rep.Cases == nil || len(rep.Targets) == 0 {
		return nil, fmt.Errorf("%s: not a conformance results.json (no targets or no cases)", path)
	}
	for _, r := range rep.Cases {
		if _, err := parseOutcome(string(r.Outcome)); err != nil {
			return nil, fmt.Errorf("%s: case %s: %w", path, r.ID, err)
		}
	}
	return &rep, nil
}

// Compare lists what changed from the baseline run old to the run new. Cases are matched by id
// and target: when both runs checked a single relay its URL may differ (the embedded relay
// listens on a new port each run); with several targets they are matched by target name.
// A case whose new outcome is the one the expect file lists for it is never a regression.
func Compare(old, new *Report) *Diff {
	d := &Diff{Regressions: []Change{}, Fixed: []Change{}, Changed: []Change{}, New: []Change{}, Removed: []Change{}}
	single := len(old.Targets) == 1 && len(new.Targets) == 1
	type key struct{ target, id string }
	keyOf := func(rep *Report, r Result) key {
		if single {
			return key{"", r.ID}
		}
		t := r.Target
		if t == "" {
			t = rep.Targets[0].Name
		}
		return key{t, r.ID}
	}
	before := map[key]Result{}
	for _, r := range old.Cases {
		before[keyOf(old, r)] = r
	}
	seen := map[key]bool{}
	for _, r := range new.Cases {
		k := keyOf(new, r)
		seen[k] = true
		c := Change{ID: r.ID, Target: k.target, New: r.Outcome, Detail: firstLine(r.Detail)}
		o, ok := before[k]
		switch {
		case !ok:
			c.Kind = ChangeNew
			d.New = append(d.New, c)
		case o.Outcome == r.Outcome:
			d.Unchanged++
		case r.Outcome.Bad() && !o.Outcome.Bad() && r.Unexpected():
			c.Kind, c.Old = ChangeRegression, o.Outcome
			d.Regressions = append(d.Regressions, c)
		case o.Outcome.Bad() && !r.Outcome.Bad():
			c.Kind, c.Old = ChangeFixed, o.Outcome
			d.Fixed = append(d.Fixed, c)
		default:
			c.Kind, c.Old = ChangeChanged, o.Outcome
			d.Changed = append(d.Changed, c)
		}
	}
	for _, r := range old.Cases {
		if k := keyOf(old, r); !seen[k] {
			d.Removed = append(d.Removed, Change{Kind: ChangeRemoved, ID: r.ID, Target: k.target, Old: r.Outcome})
		}
	}
	return d
}

// ExitCode is 1 when some case regressed, else 0.
func (d *Diff) ExitCode() int {
	if len(d.Regressions) > 0 {
		return 1
	}
	return 0
}

// Write prints the diff, one line per changed case, regressions first, then a count line.
func (d *Diff) Write(w io.Writer) {
	fmt.Fprintf(w, "changes since the baseline %s:\n", d.Baseline)
	for _, group := range [][]Change{d.Regressions, d.Fixed, d.Changed, d.New, d.Removed} {
		for _, c := range group {
			where := ""
			if c.Target != "" {
				where = " [" + c.Target + "]"
			}
			var what string
			switch c.Kind {
			case ChangeNew:
				what = string(c.New)
			case ChangeRemoved:
				what = "was " + string(c.Old)
			default:
				what = string(c.Old) + " → " + string(c.New)
			}
			line := fmt.Sprintf("  %-10s %s%s: %s", strings.ToUpper(c.Kind), c.ID, where, what)
			if c.Detail != "" && c.New.Bad() {
				line += " — " + c.Detail
			}
			fmt.Fprintln(w, line)
		}
	}
	fmt.Fprintf(w, "  %d regressions, %d fixed, %d changed, %d new, %d removed, %d unchanged\n",
		len(d.Regressions), len(d.Fixed), len(d.Changed), len(d.New), len(d.Removed), d.Unchanged)
}

// WriteJSON writes the diff as JSON (diff.json).
func (d *Diff) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(d)
}

// WriteFile writes diff.json into dir.
func (d *Diff) WriteFile(dir string) error {
	f, err := os.Create(filepath.Join(dir, "diff.json"))
	if err != nil {
		return err
	}
	return errors.Join(d.WriteJSON(f), f.Close())
}
