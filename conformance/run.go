package conformance

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"mpcrelay/client"
)

// Defaults of a run.
const (
	DefaultTimeout     = 5 * time.Second        // a local relay answers in milliseconds
	DefaultQuietWindow = 250 * time.Millisecond // long enough for a misrouted frame on loopback
	DefaultParallel    = 4                      // cases mostly wait on the network and quiet windows
)

// Options configure a run.
type Options struct {
	Targets  []Target
	Cases    []*Case // the selected cases (Select); nil = all
	Config   Config
	Parallel int          // worker processes; <1 = DefaultParallel
	Strict   bool         // non-strict counts as fail
	Expect   Expectations // known deviations
	// Spawn returns the command of one worker process: the current binary, re-executed so that
	// RunWorkerIfRequested runs first. Default: os.Executable() with os.Args[1:].
	Spawn func(ctx context.Context) (*exec.Cmd, error)
	// WorkerOutput receives the workers' Ginkgo output (nil = kept only for crashed workers).
	WorkerOutput io.Writer
	// Repeat runs the selection this many times against the same targets (<1 = once); a case
	// whose outcome differed between runs ends flaky (repeat.go).
	Repeat int
	// Progress, when set, is called after each run of a repeated selection with that run's report.
	Progress func(run, of int, rep *Report)
	// Pairs, when set, chooses which of the cases run against which target (the self-test
	// runs each breakage against the cases of its rule); nil runs every case against every target.
	Pairs func(t Target, c *Case) bool
	// Explore bounds the exploration cases (zero: DefaultExplore).
	Explore ExploreSettings
}

var errDataRace = errors.New("data race detected")

// ErrUnreachable wraps the preflight failure of a target (the harness cannot run: exit 2).
var ErrUnreachable = errors.New("target unreachable")

// Run executes the cases against every target and returns the merged report.
func Run(ctx context.Context, opts Options) (*Report, error) {
	if len(opts.Targets) == 0 {
		return nil, errors.New("no target to check")
	}
	if opts.Cases == nil {
		opts.Cases = Cases()
	}
	if opts.Config.Timeout <= 0 {
		opts.Config.Timeout = DefaultTimeout
	}
	if opts.Config.QuietWindow <= 0 {
		opts.Config.QuietWindow = DefaultQuietWindow
	}
	if opts.Parallel < 1 {
		opts.Parallel = DefaultParallel
	}
	if opts.Spawn == nil {
		opts.Spawn = reexec
	}
	if opts.Repeat < 1 {
		opts.Repeat = 1
	}
	if opts.Explore.Steps == 0 && opts.Explore.Duration == 0 {
		opts.Explore = DefaultExplore
	}
	for _, tg := range opts.Targets {
		for _, u := range tg.urls() {
			if err := preflight(ctx, u); err != nil {
				return nil, fmt.Errorf("%w: %s: %v", ErrUnreachable, u, err)
			}
		}
	}
	if opts.Repeat == 1 {
		return runOnce(ctx, opts)
	}
	return runRepeated(ctx, opts)
}

// runOnce runs the selection once: shards in worker processes, results merged in case order.
func runOnce(ctx context.Context, opts Options) (*Report, error) {
	started := time.Now()
	dir, err := os.MkdirTemp("", "mpcrelay-conform-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)

	shards := shard(opts.Targets, opts.Cases, opts.Parallel, opts.Pairs)
	results := make([][]specResult, len(shards))
	errs := make([]error, len(shards))
	var wg sync.WaitGroup
	for i, specs := range shards {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i], errs[i] = runShard(ctx, opts, dir, i, specs)
		}()
	}
	wg.Wait()
	rep := newReport(opts, started)
	for _, err := range errs {
		if err != nil {
			rep.HarnessErrors = append(rep.HarnessErrors, err.Error())
		}
	}
	got := map[specRef]specResult{}
	for i := range shards {
		for _, r := range results[i] {
			got[specRef{r.Target, r.Case}] = r
		}
	}
	for i, specs := range shards {
		for _, ref := range specs {
			r, ok := got[ref]
			if !ok {
				r = specResult{Target: ref.Target, Case: ref.Case, Outcome: Error, Detail: fmt.Sprintf("harness: worker %d ended without a result for this case: %v", i+1, errs[i])}
			}
			rep.add(opts, r)
		}
	}
	rep.finish(started)
	return rep, nil
}

// preflight dials the target once, so an unreachable relay is a harness error, not 80 errors.
func preflight(ctx context.Context, url string) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url)
	if err != nil {
		return err
	}
	return c.Close()
}

func reexec(ctx context.Context) (*exec.Cmd, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("find own executable for workers: %w", err)
	}
	return exec.CommandContext(ctx, exe, os.Args[1:]...), nil
}

// shard spreads the specs (target × case) over n workers, heaviest first onto the least loaded
// worker, so the two crypto cases never share a worker. Every browser case goes to one worker,
// which launches one Chromium for all of them. pairs (nil: all) chooses the cases of each target.
func shard(targets []Target, cases []*Case, n int, pairs func(Target, *Case) bool) [][]specRef {
	type spec struct {
		ref     specRef
		cost    int
		browser bool
	}
	var specs []spec
	for ti := range targets {
		for _, c := range cases {
			if pairs == nil || pairs(targets[ti], c) {
				specs = append(specs, spec{specRef{ti, c.ID}, c.cost, slices.Contains(c.Labels, "browser")})
			}
		}
	}
	slices.SortStableFunc(specs, func(a, b spec) int { return b.cost - a.cost })
	n = min(n, len(specs))
	out := make([][]specRef, n)
	load := make([]int, n)
	browserWorker := -1
	for _, s := range specs {
		w := slices.Index(load, slices.Min(load))
		if s.browser {
			if browserWorker < 0 {
				browserWorker = w
			}
			w = browserWorker
		}
		out[w] = append(out[w], s.ref)
		load[w] += s.cost
	}
	return out
}

func runShard(ctx context.Context, opts Options, dir string, i int, specs []specRef) ([]specResult, error) {
	p := plan{
		Targets: opts.Targets, Specs: specs,
		Timeout: opts.Config.Timeout, QuietWindow: opts.Config.QuietWindow,
		ResultFile: filepath.Join(dir, fmt.Sprintf("results-%d.jsonl", i)),
		Seed:       time.Now().UnixNano() + int64(i),
		Explore:    opts.Explore,
	}
	planFile := filepath.Join(dir, fmt.Sprintf("plan-%d.json", i))
	data, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(planFile, data, 0o600); err != nil {
		return nil, err
	}
	cmd, err := opts.Spawn(ctx)
	if err != nil {
		return nil, err
	}
	cmd.Env = append(os.Environ(), workerEnv+"="+planFile)
	var output bytes.Buffer
	cmd.Stdout, cmd.Stderr = &output, &output
	if opts.WorkerOutput != nil {
		w := &lockedWriter{w: opts.WorkerOutput}
		cmd.Stdout, cmd.Stderr = io.MultiWriter(&output, w), io.MultiWriter(&output, w)
	}
	runErr := cmd.Run()
	res, readErr := readResults(p.ResultFile)
	if at := strings.Index(output.String(), "WARNING: DATA RACE"); at >= 0 {
		// a race inside the harness is a harness bug: surface it even when every case passed
		return res, fmt.Errorf("%w in worker %d:\n%s", errDataRace, i+1, output.String()[at:min(output.Len(), at+6000)])
	}
	if len(res) < len(specs) {
		tail := output.String()
		if len(tail) > 4000 {
			tail = tail[len(tail)-4000:]
		}
		return res, fmt.Errorf("worker exited (%v); output tail:\n%s", errors.Join(runErr, readErr), tail)
	}
	return res, nil
}

func readResults(path string) ([]specResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var out []specResult
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 64<<20)
	for sc.Scan() {
		var r specResult
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			return out, fmt.Errorf("result line: %w", err)
		}
		out = append(out, r)
	}
	return out, sc.Err()
}

// lockedWriter lets several workers stream into one writer.
type lockedWriter struct {
	w io.Writer
}

var sharedWriterLock sync.Mutex // one per process: every lockedWriter wraps the same output

func (l *lockedWriter) Write(p []byte) (int, error) {
	sharedWriterLock.Lock()
	defer sharedWriterLock.Unlock()
	return l.w.Write(p)
}
