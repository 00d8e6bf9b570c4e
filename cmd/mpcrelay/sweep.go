package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/pflag"

	"mpcrelay/scenarios/replay"
	"mpcrelay/scenarios/report"
	"mpcrelay/scenarios/run"
)

// sweepArgs are the capacity-search flags of replay and bench.
type sweepArgs struct {
	on       bool
	start    float64
	factor   float64
	max      float64
	step     time.Duration
	slo      time.Duration
	refine   int
	maxSteps int
}

func addSweepFlags(f *pflag.FlagSet, s *sweepArgs) {
	f.BoolVar(&s.on, "sweep", false, "capacity search: ramp the open-loop rate step by step until p99 > --slo or a delivery is lost or late; report the knee")
	f.DurationVar(&s.slo, "slo", 50*time.Millisecond, "with --sweep: the p99 delivery latency a step must meet")
	f.Float64Var(&s.start, "sweep-start", 10, "with --sweep: the first step's rate, sessions/s")
	f.Float64Var(&s.factor, "sweep-factor", 1.5, "with --sweep: each step's rate is the previous one's times this (> 1)")
	f.Float64Var(&s.max, "sweep-max", 0, "with --sweep: no step above this rate, sessions/s (0: no cap)")
	f.DurationVar(&s.step, "sweep-step", 5*time.Second, "with --sweep: how long each step is held")
	f.IntVar(&s.refine, "sweep-refine", 2, "with --sweep: bisections between the last passing and the first failing rate")
	f.IntVar(&s.maxSteps, "sweep-steps", 30, "with --sweep: at most this many ramp steps per target")
}

func (s *sweepArgs) check(o *run.ReplayOptions) error {
	if err := checkRate("--sweep-start", s.start, false); err != nil {
		return err
	}
	if err := checkSessionRate("--sweep-start", s.start); err != nil { // the lowest rate it runs
		return err
	}
	if err := checkRate("--sweep-max", s.max, true); err != nil {
		return err
	}
	if err := checkRate("--sweep-factor", s.factor, false); err != nil || s.factor <= 1 {
		return fmt.Errorf("--sweep-factor must be a finite number > 1, got %v", s.factor)
	}
	if s.max > 0 && s.max < s.start {
		return fmt.Errorf("--sweep-max %v is below --sweep-start %v", s.max, s.start)
	}
	if s.step <= 0 {
		return fmt.Errorf("--sweep-step must be positive, got %s", s.step)
	}
	if s.slo <= 0 {
		return fmt.Errorf("--slo must be positive, got %s", s.slo)
	}
	if s.refine < 0 || s.maxSteps < 1 {
		return errors.New("--sweep-refine must be ≥ 0 and --sweep-steps ≥ 1")
	}
	if o.Rate != 0 || o.Duration != 0 {
		return errors.New("--sweep sets the rate and the duration of each step: use --sweep-start/--sweep-step instead of --rate/--duration")
	}
	if o.Segment != (replay.Segment{}) {
		return errors.New("--sweep and --segment cannot be combined: each step's pass or fail needs the whole load's latencies")
	}
	return nil
}

func runSweep(ctx context.Context, out io.Writer, a replayArgs) error {
	o := a.opts
	o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	if err := raiseFiles(o); err != nil {
		return err
	}
	so := run.SweepOptions{Replay: o, Start: a.sweep.start, Factor: a.sweep.factor, Max: a.sweep.max, Step: a.sweep.step,
		SLO: a.sweep.slo, Refine: a.sweep.refine, MaxSteps: a.sweep.maxSteps}
	if !a.quiet {
		so.Progress = func(line string) { fmt.Fprintln(os.Stderr, line) }
	}
	// Each step is one bounded replay; targets × (ramp + refinements) steps bound the whole.
	steps := time.Duration(a.sweep.maxSteps + a.sweep.refine)
	o.Rate, o.Duration = a.sweep.max+a.sweep.start, a.sweep.step
	limit := time.Duration(math.MaxInt64) // many steps of a long bound: no practical limit
	if b := run.ReplayBound(o); b < (limit-time.Minute)/(2*steps) {
		limit = 2*steps*b + time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	res, err := run.Sweep(ctx, so)
	if res == nil {
		return err
	}
	// An interrupted search still writes the steps it finished, then exits 2.
	if werr := report.WriteDir(a.reportDir, res, res.Page()); werr != nil {
		return werr
	}
	fmt.Fprintf(out, "%s\nreport: %s\n", res.Verdict, filepath.Join(a.reportDir, "report.html"))
	if err != nil {
		return err
	}
	if !res.Passed {
		return &exitError{code: 1, err: errors.New("sweep: " + res.Verdict)}
	}
	return nil
}
