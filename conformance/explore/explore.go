package explore

import (
	"context"
	"fmt"
	"strings"
	"time"
)

// Defaults of the bounded exploration every `mpcrelay conform` runs: fixed seeds so CI verdicts
// are stable, and a step budget rather than a time budget so a loaded machine explores the same.
var (
	DefaultSeeds = []int64{1, 2, 3, 4}
)

const (
	DefaultSteps        = 400
	DefaultShrinkBudget = 30 * time.Second
	shrinkTimeoutFloor  = 500 * time.Millisecond
)

// Config is one exploration.
type Config struct {
	URL      string
	Seed     int64
	Steps    int           // steps to generate; 0 = until Duration
	Duration time.Duration // stop generating after this (with Steps 0); 0 = Steps only
	Keep     []int         // run only these steps of the generated ones (a shrunk run, replayed)
	Timeout  time.Duration // bound of every wait for an expected frame
	Quiet    time.Duration // quiet window of negative checks
	// ShrinkBudget bounds shrinking a failing run (0: do not shrink).
	ShrinkBudget time.Duration
	// Progress, when set, is called now and then with the steps run so far.
	Progress func(steps int)
}

// Result of an exploration.
type Result struct {
	Seed      int64
	Steps     int           // steps run
	Frames    int           // frames the client wrote
	Elapsed   time.Duration // the run, without shrinking
	Failed    bool
	Harness   bool // the harness could not run (the relay could not be reached)
	FailStep  int  // index of the step that failed, in the generated run
	Expected  string
	Actual    string
	Minimal   []int // the failing steps after shrinking (all steps up to FailStep when not shrunk)
	Shrunk    bool  // Minimal was confirmed by a run with the full timeout
	Runs      int   // runs made while shrinking
	ShrinkFor time.Duration
	MinSteps  []string // the minimal steps, described
	Lines     []Line   // transcript of the minimal failing run (or of the failing run)
	Learned   []string // the choices the relay showed (passing runs)
}

// Replay is the flags of `mpcrelay conform --explore` that replay the minimal failing run.
func (r *Result) Replay() string {
	s := fmt.Sprintf("--explore --seed %d --steps %d", r.Seed, r.FailStep+1)
	if len(r.Minimal) > 0 && len(r.Minimal) < r.FailStep+1 {
		var ks []string
		for _, k := range r.Minimal {
			ks = append(ks, fmt.Sprint(k))
		}
		s += " --keep " + strings.Join(ks, ",")
	}
	return s
}

// Generate returns the first n steps of seed's run (the same for every relay).
func Generate(seed int64, n int) []*Step {
	g := newGenerator(seed)
	out := make([]*Step, n)
	for i := range out {
		out[i] = g.next()
	}
	return out
}

// Run explores cfg.URL with cfg.Seed and, when a frame differs from the model, shrinks the run.
func Run(ctx context.Context, cfg Config) *Result {
	res := &Result{Seed: cfg.Seed}
	started := time.Now()
	var steps []*Step
	var idx []int
	if len(cfg.Keep) > 0 {
		all := Generate(cfg.Seed, cfg.Steps)
		for _, k := range cfg.Keep {
			if k >= 0 && k < len(all) {
				steps = append(steps, all[k])
				idx = append(idx, k)
			}
		}
		t := newTrial(cfg.URL, cfg.Timeout, cfg.Quiet, true)
		f := t.run(ctx, steps, idx)
		res.Steps, res.Frames, res.Elapsed = len(steps), t.frames, time.Since(started)
		res.Lines = t.tr.lines
		if f == nil {
			res.Learned = t.m.Learned()
			return res
		}
		res.fail(f, idx)
		res.Minimal = idx[:f.step+1]
		res.describe(steps[:f.step+1], idx)
		return res
	}

	// the run itself: generate as we go, so --duration can bound it
	g := newGenerator(cfg.Seed)
	t := newTrial(cfg.URL, cfg.Timeout, cfg.Quiet, false)
	var f *failure
	func() {
		defer t.stop()
		for i := 0; cfg.Steps == 0 || i < cfg.Steps; i++ {
			if cfg.Steps == 0 && time.Since(started) >= cfg.Duration {
				break
			}
			if cfg.Duration > 0 && cfg.Steps > 0 && time.Since(started) >= cfg.Duration {
				break
			}
			st := g.next()
			steps = append(steps, st)
			idx = append(idx, i)
			if err := ctx.Err(); err != nil {
				f = &failure{step: i, harness: true, expected: "the run to finish", actual: err.Error()}
				return
			}
			if f = t.step(ctx, st, i); f != nil {
				f.step = i
				return
			}
			if cfg.Progress != nil && i%500 == 499 {
				cfg.Progress(i + 1)
			}
		}
		if f = t.quietWindow(); f != nil {
			f.step = len(steps) - 1
		}
	}()
	res.Steps, res.Frames, res.Elapsed = len(steps), t.frames, time.Since(started)
	if f == nil {
		res.Learned = t.m.Learned()
		return res
	}
	res.fail(f, idx)
	if f.harness {
		return res
	}
	failing := idx[:f.step+1]
	res.Minimal = failing
	// shrink, then confirm the minimal run with the full timeout and record its transcript
	if cfg.ShrinkBudget > 0 {
		shrinkTimeout := min(cfg.Timeout, max(shrinkTimeoutFloor, 50*t.maxStep))
		sh := &shrinker{ctx: ctx, cfg: cfg, all: steps, timeout: shrinkTimeout, deadline: time.Now().Add(cfg.ShrinkBudget), sig: f.sig}
		began := time.Now()
		small := sh.ddmin(failing)
		res.Runs, res.ShrinkFor = sh.runs, time.Since(began)
		if len(small) < len(failing) {
			if conf := res.confirm(ctx, cfg, steps, small); conf {
				return res
			}
		}
	}
	// not shrunk (or the minimal run did not fail again with the full timeout): the whole run
	res.confirm(ctx, cfg, steps, failing)
	return res
}

// confirm reruns the steps at idx with the full timeout, recording the transcript; when it
// fails, it becomes the reported failure.
func (r *Result) confirm(ctx context.Context, cfg Config, all []*Step, idx []int) bool {
	steps := pickSteps(all, idx)
	t := newTrial(cfg.URL, cfg.Timeout, cfg.Quiet, true)
	f := t.run(ctx, steps, idx)
	if f == nil || f.harness {
		return false
	}
	r.Minimal = idx[:f.step+1]
	r.Shrunk = len(r.Minimal) < r.FailStep+1
	r.Expected, r.Actual = f.expected, f.actual
	r.Lines = t.tr.lines
	r.describe(steps[:f.step+1], r.Minimal)
	return true
}

func (r *Result) fail(f *failure, idx []int) {
	r.Failed, r.Harness = true, f.harness
	r.FailStep = idx[f.step]
	r.Expected, r.Actual = f.expected, f.actual
}

func (r *Result) describe(steps []*Step, idx []int) {
	r.MinSteps = nil
	for k, st := range steps {
		r.MinSteps = append(r.MinSteps, st.describe(idx[k]))
	}
}

func pickSteps(all []*Step, idx []int) []*Step {
	out := make([]*Step, len(idx))
	for k, i := range idx {
		out[k] = all[i]
	}
	return out
}

// shrinker reduces a failing run by delta debugging (Zeller's ddmin): it tries halves, then
// complements, then finer pieces, keeping any subsequence that still fails.
type shrinker struct {
	ctx      context.Context
	cfg      Config
	all      []*Step
	timeout  time.Duration
	deadline time.Time
	sig      string // the original failure's signature: a smaller run must fail the same way
	runs     int
}

// fails runs the subsequence with the shrinking timeout; it returns the failing prefix.
func (s *shrinker) fails(idx []int) ([]int, bool) {
	if time.Now().After(s.deadline) || s.ctx.Err() != nil {
		return nil, false
	}
	s.runs++
	t := newTrial(s.cfg.URL, s.timeout, s.cfg.Quiet, false)
	f := t.run(s.ctx, pickSteps(s.all, idx), idx)
	if f == nil || f.harness || f.sig != s.sig {
		return nil, false
	}
	return idx[:f.step+1], true
}

func (s *shrinker) ddmin(c []int) []int {
	// first the slice of steps the failing step can depend on: often most of the way
	if near := s.slice(c); len(near) < len(c) {
		if p, ok := s.fails(near); ok {
			c = p
		}
	}
	n := 2
	for len(c) >= 2 && time.Now().Before(s.deadline) {
		chunks := split(c, n)
		reduced := false
		for _, ch := range chunks {
			if p, ok := s.fails(ch); ok {
				c, n, reduced = p, 2, true
				break
			}
		}
		if !reduced {
			for i := range chunks {
				comp := complement(chunks, i)
				if p, ok := s.fails(comp); ok {
					c, n, reduced = p, max(n-1, 2), true
					break
				}
			}
		}
		if !reduced {
			if n >= len(c) {
				break
			}
			n = min(2*n, len(c))
		}
	}
	return c
}

// slice keeps, walking back from the last step, the steps that name (or create) a group or
// session a kept step names, and the closes of kept steps' connection slots.
func (s *shrinker) slice(c []int) []int {
	refs := map[[2]int]bool{}
	slots := map[int]bool{}
	keep := make([]bool, len(c))
	for k := len(c) - 1; k >= 0; k-- {
		i := c[k]
		st := s.all[i]
		names := stepRefs(i, st)
		hit := k == len(c)-1 || st.Close != 0 && slots[st.Slot]
		for _, r := range names {
			hit = hit || refs[r]
		}
		if !hit {
			continue
		}
		keep[k] = true
		slots[st.Slot] = true
		for _, r := range names {
			refs[r] = true
		}
	}
	var out []int
	for k, i := range c {
		if keep[k] {
			out = append(out, i)
		}
	}
	return out
}

// stepRefs lists the objects a step names or creates, as (step, frame) of their creation.
func stepRefs(i int, st *Step) [][2]int {
	var out [][2]int
	var walk func(v *Val)
	walk = func(v *Val) {
		if v == nil {
			return
		}
		if v.Ref != nil {
			out = append(out, [2]int{v.Ref.Step, v.Ref.Frame})
		}
		for _, e := range v.Arr {
			walk(e)
		}
		for _, m := range v.Obj {
			walk(m.Val)
		}
	}
	for j, f := range st.Frames {
		if f.creates() {
			out = append(out, [2]int{i, j})
		}
		if f.Req != nil {
			walk(f.Req.Params)
		}
	}
	return out
}

func split(c []int, n int) [][]int {
	var out [][]int
	size := len(c) / n
	rest := len(c) % n
	at := 0
	for i := 0; i < n; i++ {
		k := size
		if i < rest {
			k++
		}
		if k > 0 {
			out = append(out, c[at:at+k])
		}
		at += k
	}
	return out
}

func complement(chunks [][]int, skip int) []int {
	var out []int
	for i, ch := range chunks {
		if i != skip {
			out = append(out, ch...)
		}
	}
	return out
}
