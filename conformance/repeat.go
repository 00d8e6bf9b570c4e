package conformance

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"
)

// runRepeated runs the selection opts.Repeat times, one run after the other against the same
// targets, and merges the runs (mergeRuns).
func runRepeated(ctx context.Context, opts Options) (*Report, error) {
	started := time.Now()
	var runs []*Report
	for i := 1; i <= opts.Repeat; i++ {
		rep, err := runOnce(ctx, opts)
		if err != nil {
			return nil, fmt.Errorf("run %d of %d: %w", i, opts.Repeat, err)
		}
		if ctx.Err() != nil {
			// an interrupted run ends every case in error: merging it would call them flaky
			return nil, fmt.Errorf("run %d of %d interrupted: %w", i, opts.Repeat, ctx.Err())
		}
		runs = append(runs, rep)
		if opts.Progress != nil {
			opts.Progress(i, opts.Repeat, rep)
		}
	}
	return mergeRuns(runs, started), nil
}

// mergeRuns folds the reports of repeated runs into one. A case with the same outcome in every
// run keeps the first run's result; a case whose outcome differed between runs ends flaky, and
// its detail names the outcome of every run and why the first run of each non-pass outcome
// ended as it did. Every merged result lists its per-run outcomes in Runs; its duration is the
// slowest run's.
func mergeRuns(runs []*Report, started time.Time) *Report {
	first := runs[0]
	rep := &Report{Target: first.Target, Targets: first.Targets, Started: started.UTC(), Strict: first.Strict,
		Repeat: len(runs), Summary: map[Outcome]int{}}
	if first.ByTarget != nil {
		rep.ByTarget = map[string]map[Outcome]int{}
	}
	type key struct{ target, id string }
	index := make([]map[key]Result, len(runs))
	for i, r := range runs {
		index[i] = map[key]Result{}
		for _, c := range r.Cases {
			index[i][key{c.Target, c.ID}] = c
		}
		for _, e := range r.HarnessErrors {
			rep.HarnessErrors = append(rep.HarnessErrors, fmt.Sprintf("run %d: %s", i+1, e))
		}
	}
	for _, c := range first.Cases {
		k := key{c.Target, c.ID}
		per := make([]Result, len(runs))
		for i := range runs {
			r, ok := index[i][k]
			if !ok { // cannot happen: every run has the same selection
				r = Result{Outcome: Error, Detail: "harness: no result in this run"}
			}
			per[i] = r
		}
		merged := c
		merged.Runs = make([]Outcome, len(runs))
		for i, r := range per {
			merged.Runs[i] = r.Outcome
			merged.DurationMS = max(merged.DurationMS, r.DurationMS)
		}
		if slices.ContainsFunc(merged.Runs, func(o Outcome) bool { return o != c.Outcome }) {
			merged.Outcome = Flaky
			merged.Detail, merged.Transcript = flakyDetail(per)
		}
		rep.count(merged)
		rep.Cases = append(rep.Cases, merged)
	}
	for _, o := range Outcomes {
		rep.Summary[o] += 0
	}
	rep.DurationMS = time.Since(started).Milliseconds()
	return rep
}

// flakyDetail says how the runs of one case differed: "pass ×9 (runs 1-3, 5-10), error ×1
// (run 4)", then the detail of the first run of each non-pass outcome (which wait timed out,
// after how long). The transcript is the first non-pass run's.
func flakyDetail(per []Result) (detail, transcript string) {
	runsOf := map[Outcome][]int{}
	var order []Outcome
	for i, r := range per {
		if _, seen := runsOf[r.Outcome]; !seen {
			order = append(order, r.Outcome)
		}
		runsOf[r.Outcome] = append(runsOf[r.Outcome], i+1)
	}
	var parts []string
	for _, o := range order {
		parts = append(parts, fmt.Sprintf("%s ×%d (%s)", o, len(runsOf[o]), runList(runsOf[o])))
	}
	var b strings.Builder
	fmt.Fprintf(&b, "outcome differed between %d runs: %s", len(per), strings.Join(parts, ", "))
	for _, o := range order {
		if o == Pass {
			continue
		}
		r := per[runsOf[o][0]-1]
		fmt.Fprintf(&b, "\n\nrun %d (%s), %d ms:\n%s", runsOf[o][0], o, r.DurationMS, r.Detail)
		if transcript == "" {
			transcript = r.Transcript
		}
	}
	return b.String(), transcript
}

// runList writes run numbers as ranges: "run 4", "runs 1-3, 5-10".
func runList(ns []int) string {
	var parts []string
	for i := 0; i < len(ns); {
		j := i
		for j+1 < len(ns) && ns[j+1] == ns[j]+1 {
			j++
		}
		if j == i {
			parts = append(parts, strconv.Itoa(ns[i]))
		} else {
			parts = append(parts, fmt.Sprintf("%d-%d", ns[i], ns[j]))
		}
		i = j + 1
	}
	if len(ns) == 1 {
		return "run " + parts[0]
	}
	return "runs " + strings.Join(parts, ", ")
}
