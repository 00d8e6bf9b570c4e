package explore

import (
	"context"
	"fmt"
	"slices"
	"time"
)

// Defaults of the bounded exploration every `mpcrelay conform` runs: fixed seeds so CI verdicts
// are stable, and a step budget rather than a time budget so a loaded machine explores the same.
var (
	DefaultSeeds = []int64{1, 2, 3, 4}
)

const (
	DefaultSteps        = 750
	DefaultQuiet        = 250 * time.Millisecond // the conformance suite's quiet window
	DefaultShrinkBudget = 30 * time.Second
	shrinkTimeoutFloor  = 500 * time.Millisecond
)

// Config is one exploration.
type Config struct {
	// URLs is the relay: one URL, or the nodes of one relay (a cluster), on which the run's
	// connections are dialled in turn (the first on URLs[0], the second on URLs[1], ...).
	URLs     []string
	Seed     int64
	Steps    int           // steps to generate; 0 = until Duration
	Duration time.Duration // stop generating after this (with Steps 0); 0 = Steps only
	Keep     []string      // run only these steps ("12") or frames ("12.1") of the generated ones (a shrunk run, replayed)
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
	Settles   int           // quiet windows waited where candidate behaviours differed in frames still to come
	Elapsed   time.Duration // the run, without shrinking
	Failed    bool
	Harness   bool // the harness could not run (the relay could not be reached)
	FailStep  int  // index of the step that failed, in the generated run
	Expected  string
	Actual    string
	Minimal   []Unit // the failing frames after shrinking (every one up to FailStep when not shrunk)
	Keep      string // Minimal as --keep reads it ("" when it is the whole run up to FailStep)
	Shrunk    bool   // Minimal is smaller than the failing run, confirmed with the full timeout
	Runs      int    // runs made while shrinking
	ShrinkFor time.Duration
	MinSteps  []string // the minimal steps, described
	Lines     []Line   // transcript of the minimal failing run (or of the failing run)
	Learned   []string // the choices the relay showed (passing runs)
}

// MinimalSteps is the number of steps of the minimal failing run.
func (r *Result) MinimalSteps() int { return len(r.MinSteps) }

// Replay is the flags of `mpcrelay conform --explore` that replay the minimal failing run.
func (r *Result) Replay() string {
	s := fmt.Sprintf("--explore --seed %d --steps %d", r.Seed, r.FailStep+1)
	if r.Keep != "" {
		s += " --keep " + r.Keep
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

// Run explores cfg.URLs with cfg.Seed and, when a frame differs from the model, shrinks the run.
func Run(ctx context.Context, cfg Config) *Result {
	res := &Result{Seed: cfg.Seed}
	started := time.Now()
	if len(cfg.Keep) > 0 {
		all := Generate(cfg.Seed, cfg.Steps)
		us, err := ParseKeep(all, cfg.Keep)
		if err != nil {
			res.Failed, res.Harness, res.Actual = true, true, err.Error()
			return res
		}
		res.confirm(ctx, cfg, all, us)
		res.Steps, res.Elapsed = len(assembleCount(all, us)), time.Since(started)
		return res
	}

	// the run itself: generate as we go, so --duration can bound it
	g := newGenerator(cfg.Seed)
	// a bounded run keeps its transcript, for when its failure cannot be shrunk
	t := newTrial(cfg.URLs, cfg.Timeout, cfg.Quiet, cfg.Steps > 0 && cfg.Steps <= maxRecordedSteps)
	var all []*Step
	var f *failure
	func() {
		defer t.stop()
		for i := 0; cfg.Steps == 0 || i < cfg.Steps; i++ {
			if cfg.Duration > 0 && time.Since(started) >= cfg.Duration {
				break
			}
			st := g.next()
			all = append(all, st)
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
			f.step = len(all) - 1
		}
	}()
	res.Steps, res.Frames, res.Settles, res.Elapsed = len(all), t.frames, t.settles, time.Since(started)
	if f == nil {
		res.Learned = t.m.Learned()
		return res
	}
	res.Failed, res.Harness = true, f.harness
	res.FailStep, res.Expected, res.Actual = f.step, f.expected, f.actual
	if f.harness {
		return res
	}
	failing := units(all, seq(f.step+1))
	// shrink, then confirm the minimal run with the full timeout and record its transcript
	if cfg.ShrinkBudget > 0 {
		shrinkTimeout := min(cfg.Timeout, max(shrinkTimeoutFloor, 50*t.maxStep))
		sh := &shrinker{ctx: ctx, cfg: cfg, all: all, timeout: shrinkTimeout, deadline: time.Now().Add(cfg.ShrinkBudget),
			sig: f.sig, tested: map[string]bool{}}
		began := time.Now()
		small := sh.ddmin(failing)
		res.Runs, res.ShrinkFor = sh.runs, time.Since(began)
		if len(small) < len(failing) && res.confirm(ctx, cfg, all, small) {
			return res
		}
	}
	// not shrunk (or the minimal run did not fail again with the full timeout): the whole run
	if t.tr == nil {
		res.confirm(ctx, cfg, all, failing)
		return res
	}
	res.Minimal, res.Keep, res.Lines = failing, "", t.tr.lines
	for i, st := range all[:f.step+1] {
		res.MinSteps = append(res.MinSteps, st.describe(i))
	}
	return res
}

// maxRecordedSteps bounds the runs that keep their transcript while they run.
const maxRecordedSteps = 10000

// confirm runs the units with the full timeout, recording the transcript; when they fail, that
// failure becomes the reported one.
func (r *Result) confirm(ctx context.Context, cfg Config, all []*Step, us []Unit) bool {
	steps, idx, first := assemble(all, us)
	t := newTrial(cfg.URLs, cfg.Timeout, cfg.Quiet, true)
	f := t.run(ctx, steps, idx)
	r.Lines = t.tr.lines
	if f == nil {
		r.Learned = t.m.Learned()
		return false
	}
	if f.harness {
		r.Failed, r.Harness, r.Actual = true, true, f.actual
		return false
	}
	end := len(us)
	if f.step+1 < len(first) {
		end = first[f.step+1]
	}
	r.Failed = true
	r.Minimal = us[:end]
	r.FailStep = idx[f.step]
	r.Expected, r.Actual = f.expected, f.actual
	whole := units(all, seq(r.FailStep+1))
	r.Shrunk = len(r.Minimal) < len(whole)
	r.Keep = ""
	if !slices.Equal(r.Minimal, whole) {
		r.Keep = FormatKeep(all, r.Minimal)
	}
	r.MinSteps = nil
	for k, st := range steps[:f.step+1] {
		r.MinSteps = append(r.MinSteps, st.describe(idx[k]))
	}
	return true
}

// assembleCount is the steps that run the units.
func assembleCount(all []*Step, us []Unit) []*Step {
	steps, _, _ := assemble(all, us)
	return steps
}

func seq(n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = i
	}
	return out
}

// shrinker reduces a failing run by delta debugging (Zeller's ddmin) over its frames: it tries
// halves, then complements, then finer pieces, keeping any subsequence that still fails the same
// way.
type shrinker struct {
	ctx      context.Context
	cfg      Config
	all      []*Step
	timeout  time.Duration
	deadline time.Time
	sig      string // the original failure's signature: a smaller run must fail the same way
	tested   map[string]bool
	runs     int
}

// fails runs the units with the shrinking timeout; it returns the failing prefix.
func (s *shrinker) fails(us []Unit) ([]Unit, bool) {
	key := fmt.Sprint(us)
	if s.tested[key] || time.Now().After(s.deadline) || s.ctx.Err() != nil {
		return nil, false
	}
	s.tested[key] = true
	s.runs++
	steps, idx, first := assemble(s.all, us)
	t := newTrial(s.cfg.URLs, s.timeout, s.cfg.Quiet, false)
	f := t.run(s.ctx, steps, idx)
	if f == nil || f.harness || f.sig != s.sig {
		return nil, false
	}
	end := len(us)
	if f.step+1 < len(first) {
		end = first[f.step+1]
	}
	return us[:end], true
}

func (s *shrinker) ddmin(c []Unit) []Unit {
	// first the slice of frames the failing one can depend on, then that slice with every frame
	// of the failing step's connection (for failures that count, say, a connection's groups):
	// often most of the way
	for _, withSlot := range []bool{false, true} {
		if near := s.slice(c, withSlot); len(near) < len(c) {
			if p, ok := s.fails(near); ok {
				c = p
				break
			}
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
				if p, ok := s.fails(complement(chunks, i)); ok {
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

// slice keeps, walking back from the last frame, the frames that name (or create) a group or
// session a kept frame names, and the closes of kept frames' connection slots; withSlot keeps
// every frame of the last frame's slot too.
func (s *shrinker) slice(c []Unit, withSlot bool) []Unit {
	refs := map[[2]int]bool{}
	slots := map[int]bool{}
	last := s.all[c[len(c)-1].Step].Slot
	keep := make([]bool, len(c))
	for k := len(c) - 1; k >= 0; k-- {
		u := c[k]
		st := s.all[u.Step]
		names := unitRefs(u, st)
		hit := k == len(c)-1 || st.Close != 0 && slots[st.Slot] || withSlot && st.Slot == last
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
	var out []Unit
	for k, u := range c {
		if keep[k] {
			out = append(out, u)
		}
	}
	return out
}

// unitRefs lists the objects a frame names or creates, as (step, frame) of their creation.
func unitRefs(u Unit, st *Step) [][2]int {
	if u.Frame < 0 {
		return nil
	}
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
	f := st.Frames[u.Frame]
	if f.creates() {
		out = append(out, [2]int{u.Step, u.Frame})
	}
	if f.Req != nil {
		walk(f.Req.Params)
	}
	return out
}

func split[T any](c []T, n int) [][]T {
	var out [][]T
	size, rest, at := len(c)/n, len(c)%n, 0
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

func complement[T any](chunks [][]T, skip int) []T {
	var out []T
	for i, ch := range chunks {
		if i != skip {
			out = append(out, ch...)
		}
	}
	return out
}
