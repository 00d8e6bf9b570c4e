package conformance

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Report is the result of a run: results.json has exactly this shape.
type Report struct {
	Target     string                     `json:"target"` // the first target's URL
	Targets    []Target                   `json:"targets"`
	Started    time.Time                  `json:"started"`
	DurationMS int64                      `json:"duration_ms"`
	Summary    map[Outcome]int            `json:"summary"`
	ByTarget   map[string]map[Outcome]int `json:"by_target,omitempty"` // several targets only
	Strict     bool                       `json:"strict,omitempty"`
	Repeat     int                        `json:"repeat,omitempty"` // --repeat N: runs merged
	Cases      []Result                   `json:"cases"`
	// HarnessErrors are worker failures (crashes, data races) beyond single cases.
	HarnessErrors []string `json:"harness_errors,omitempty"`
}

// Result is one case against one target.
type Result struct {
	ID         string    `json:"id"`
	Section    string    `json:"section"`
	Title      string    `json:"title"`
	Level      string    `json:"level"`
	Labels     []string  `json:"labels"`
	Target     string    `json:"target,omitempty"` // several targets only
	Outcome    Outcome   `json:"outcome"`
	Expected   Outcome   `json:"expected,omitempty"` // from the expect file
	DurationMS int64     `json:"duration_ms"`
	Detail     string    `json:"detail"`
	Transcript string    `json:"transcript,omitempty"` // non-pass cases
	Runs       []Outcome `json:"runs,omitempty"`       // --repeat: the outcome of each run
}

// Unexpected reports whether the result counts for the exit code: not listed in the expect file
// with this outcome.
func (r Result) Unexpected() bool { return r.Expected == "" || r.Expected != r.Outcome }

func newReport(opts Options, started time.Time) *Report {
	rep := &Report{Target: opts.Targets[0].URL, Targets: opts.Targets, Started: started.UTC(), Strict: opts.Strict,
		Summary: map[Outcome]int{}}
	if len(opts.Targets) > 1 {
		rep.ByTarget = map[string]map[Outcome]int{}
	}
	return rep
}

func (rep *Report) add(opts Options, r specResult) {
	c, _ := Lookup(r.Case)
	res := Result{ID: c.ID, Section: c.section.Number, Title: c.Requirement, Level: c.Level.String(),
		Labels: c.AllLabels(), Outcome: r.Outcome, DurationMS: r.DurationMS, Detail: r.Detail, Transcript: r.Transcript}
	if e, ok := opts.Expect[c.ID]; ok {
		res.Expected = e
	}
	// --strict turns non-strict into fail, except for deviations the expect file lists as such
	if opts.Strict && res.Outcome == NonStrict && res.Expected != NonStrict {
		res.Outcome = Fail
		res.Detail = "strict mode: " + res.Detail
	}
	if len(opts.Targets) > 1 {
		res.Target = opts.Targets[r.Target].Name
	}
	rep.count(res)
	rep.Cases = append(rep.Cases, res)
}

// count adds r to the summary, and to its target's counts when the report has several targets.
func (rep *Report) count(r Result) {
	if rep.ByTarget != nil {
		if rep.ByTarget[r.Target] == nil {
			rep.ByTarget[r.Target] = map[Outcome]int{}
		}
		rep.ByTarget[r.Target][r.Outcome]++
	}
	rep.Summary[r.Outcome]++
}

func (rep *Report) finish(started time.Time) {
	rep.DurationMS = time.Since(started).Milliseconds()
	order := map[string]int{}
	for i, c := range Cases() {
		order[c.ID] = i
	}
	tindex := map[string]int{}
	for i, t := range rep.Targets {
		tindex[t.Name] = i
	}
	sortResults(rep.Cases, order, tindex)
	for _, o := range Outcomes {
		rep.Summary[o] += 0 // every outcome appears in results.json, zero or not
	}
}

func sortResults(rs []Result, order, tindex map[string]int) {
	less := func(a, b Result) int {
		if d := order[a.ID] - order[b.ID]; d != 0 {
			return d
		}
		return tindex[a.Target] - tindex[b.Target]
	}
	slices.SortStableFunc(rs, less)
}

// ExitCode is 0 when no case failed, 1 when some case failed or was flaky (its outcome differed
// between repeated runs), 2 when some case could not be run by the harness (and none failed).
// Outcomes the expect file lists do not count.
func (rep *Report) ExitCode() int {
	code := 0
	if len(rep.HarnessErrors) > 0 {
		code = 2
	}
	for _, r := range rep.Cases {
		if !r.Unexpected() {
			continue
		}
		switch r.Outcome {
		case Fail, Flaky:
			return 1
		case Error:
			code = 2
		}
	}
	return code
}

// WriteFiles writes results.json, junit.xml and report.html into dir.
func (rep *Report) WriteFiles(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for name, write := range map[string]func(io.Writer) error{
		"results.json": rep.WriteJSON,
		"junit.xml":    rep.WriteJUnit,
		"report.html":  rep.WriteHTML,
	} {
		f, err := os.Create(filepath.Join(dir, name))
		if err != nil {
			return err
		}
		if err := write(f); err != nil {
			f.Close()
			return fmt.Errorf("write %s: %w", name, err)
		}
		if err := f.Close(); err != nil {
			return err
		}
	}
	return nil
}

// Counts is the summary as one line: "84 pass, 0 fail, ...".
func (rep *Report) Counts() string { return counts(rep.Summary) }

func counts(m map[Outcome]int) string {
	var parts []string
	for _, o := range Outcomes {
		parts = append(parts, fmt.Sprintf("%d %s", m[o], o))
	}
	return strings.Join(parts, ", ")
}

// WriteSummary prints the short console summary: counts per outcome (per target when several)
// and every failed or errored case with its Expected / Actual.
func (rep *Report) WriteSummary(w io.Writer) {
	runs := ""
	if rep.Repeat > 1 {
		runs = fmt.Sprintf(" (%d runs)", rep.Repeat)
	}
	fmt.Fprintf(w, "mpcrelay conformance: %d cases%s in %.1fs against %s\n", len(rep.Cases), runs, float64(rep.DurationMS)/1000, rep.targetList())
	if len(rep.Targets) > 1 {
		for _, t := range rep.Targets {
			fmt.Fprintf(w, "  %-40s %s\n", t.Name, counts(rep.ByTarget[t.Name]))
		}
	}
	fmt.Fprintf(w, "  %s\n", counts(rep.Summary))
	for _, r := range rep.Cases {
		if !r.Outcome.Bad() {
			continue
		}
		mark := strings.ToUpper(string(r.Outcome))
		if !r.Unexpected() {
			mark += " (expected)"
		}
		where := ""
		if r.Target != "" {
			where = " [" + r.Target + "]"
		}
		fmt.Fprintf(w, "\n%s %s%s — %s\n%s\n", mark, r.ID, where, r.Title, indent(r.Detail, "    "))
		if r.Transcript != "" {
			fmt.Fprintf(w, "    Transcript (→ sent, ← received):\n%s\n", indent(tail(r.Transcript, maxConsoleTranscript), "    "))
		}
	}
	for _, r := range rep.Cases {
		if r.Outcome == NonStrict {
			fmt.Fprintf(w, "non-strict: %s — %s\n", r.ID, firstLine(r.Detail))
		}
	}
	for _, e := range rep.HarnessErrors {
		fmt.Fprintf(w, "\nHARNESS ERROR: %s\n", e)
	}
	for _, r := range rep.Cases {
		if r.Expected != "" && r.Expected != r.Outcome {
			fmt.Fprintf(w, "note: %s was expected %s, got %s\n", r.ID, r.Expected, r.Outcome)
		}
	}
}

func (rep *Report) targetList() string {
	var urls []string
	for _, t := range rep.Targets {
		if len(t.Nodes) > 0 {
			urls = append(urls, fmt.Sprintf("one relay on %d nodes (%s)", len(t.Nodes), strings.Join(t.Nodes, ", ")))
			continue
		}
		urls = append(urls, t.URL)
	}
	return strings.Join(urls, ", ")
}

// maxConsoleTranscript bounds the transcript lines the console shows per case; the report
// files keep all of them.
const maxConsoleTranscript = 40

// tail keeps the last n lines of s, noting how many were left out.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) <= n {
		return strings.Join(lines, "\n")
	}
	return fmt.Sprintf("… %d earlier lines in the report files …\n", len(lines)-n) + strings.Join(lines[len(lines)-n:], "\n")
}

func indent(s, prefix string) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	for i := range lines {
		lines[i] = prefix + lines[i]
	}
	return strings.Join(lines, "\n")
}
