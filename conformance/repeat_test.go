package conformance

import (
	"bytes"
	"context"
	"io"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

func TestMergeRunsMarksDifferingOutcomesFlaky(t *testing.T) {
	one := Options{Targets: []Target{{Name: "r", URL: "ws://r/mpc"}}}
	runs := []*Report{
		fakeReport(one, map[string]Outcome{"4.5/signup-numbers-from-one": Pass, "4.6/load-zero-refused": Pass}),
		fakeReport(one, map[string]Outcome{"4.5/signup-numbers-from-one": Pass, "4.6/load-zero-refused": Error}),
		fakeReport(one, map[string]Outcome{"4.5/signup-numbers-from-one": Pass, "4.6/load-zero-refused": Pass}),
		fakeReport(one, map[string]Outcome{"4.5/signup-numbers-from-one": Pass, "4.6/load-zero-refused": Pass}),
	}
	rep := mergeRuns(runs, time.Now())
	if rep.Repeat != 4 || rep.Summary[Flaky] != 1 || rep.Summary[Pass] != 1 || len(rep.Cases) != 2 {
		t.Fatalf("one flaky, one pass over 4 runs: %+v", rep.Summary)
	}
	var flaky Result
	for _, r := range rep.Cases {
		if r.Outcome == Flaky {
			flaky = r
		}
	}
	if flaky.ID != "4.6/load-zero-refused" || !slices.Equal(flaky.Runs, []Outcome{Pass, Error, Pass, Pass}) {
		t.Fatalf("flaky case and its runs: %+v", flaky)
	}
	want := "outcome differed between 4 runs: pass ×3 (runs 1, 3-4), error ×1 (run 2)"
	if !strings.HasPrefix(flaky.Detail, want) || !strings.Contains(flaky.Detail, "run 2 (error)") || flaky.Transcript == "" {
		t.Fatalf("detail says how the runs differed and why run 2 erred:\n%s", flaky.Detail)
	}
	if rep.ExitCode() != 1 {
		t.Fatalf("a flaky case makes exit code 1, got %d", rep.ExitCode())
	}
	var sum strings.Builder
	rep.WriteSummary(&sum)
	if !strings.Contains(sum.String(), "(4 runs)") || !strings.Contains(sum.String(), "FLAKY 4.6/load-zero-refused") || !strings.Contains(sum.String(), "1 flaky") {
		t.Fatalf("the console names the flaky case:\n%s", sum.String())
	}
	var junit bytes.Buffer
	if err := rep.WriteJUnit(&junit); err != nil || !strings.Contains(junit.String(), `type="flaky"`) {
		t.Fatalf("junit.xml marks the flaky case as a failure of type flaky: %v\n%s", err, junit.String())
	}
}

// A relay that breaks a rule only the first time: the case fails in run 1, passes in run 2, and
// the repeated run reports it flaky, end to end through the worker processes.
func TestRepeatReportsFlakyCase(t *testing.T) {
	inst := startReference(t, false)
	broken := false
	once := startProxy(t, inst.URL(), faultproxy.Rewrite("first-error-code", faultproxy.ToClient,
		func(f *faultproxy.Frame) bool {
			if broken || !faultproxy.ErrorResponse(protocol.CodeInternal)(f) {
				return false
			}
			broken = true // rules of one proxy run one at a time
			return true
		}, func(b []byte) []byte { return bytes.Replace(b, []byte("-32603"), []byte("-32000"), 1) }))
	cases, _ := Select("", []string{"4.1/parties-must-exceed-one"})
	var progress []string
	rep, err := Run(context.Background(), Options{Targets: []Target{{Name: "once", URL: once.URL()}}, Cases: cases, Parallel: 1, Repeat: 2,
		Config:   Config{Timeout: DefaultTimeout * raceSlowdown},
		Progress: func(run, of int, r *Report) { progress = append(progress, r.Counts()) }})
	if err != nil {
		t.Fatal(err)
	}
	if len(progress) != 2 || len(rep.Cases) != 1 {
		t.Fatalf("two runs of one case: %v %+v", progress, rep.Cases)
	}
	r := rep.Cases[0]
	if r.Outcome != Flaky || !slices.Equal(r.Runs, []Outcome{Fail, Pass}) || !strings.Contains(r.Detail, "Expected: error code -32603") {
		t.Fatalf("flaky with runs [fail pass] and run 1's Expected/Actual: %+v", r)
	}
}

// burnEnv makes the test binary a CPU burner (TestMain): a real process competing for the
// cores, as other jobs do on a shared CI machine.
const burnEnv = "MPCRELAY_TEST_BURN_CPU"

// burnCPU spins one core until stdin closes (the test ended or died) or 10 minutes pass.
func burnCPU() {
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	}()
	time.AfterFunc(10*time.Minute, func() { os.Exit(0) })
	runtime.GOMAXPROCS(1)
	for x := 0; ; x++ {
		_ = x * x
	}
}

// startBurners starts n burner processes; they end when the test does.
func startBurners(t *testing.T, n int) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	for range n {
		cmd := exec.Command(exe, "-test.run", "^$")
		cmd.Env = append(os.Environ(), burnEnv+"=1")
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() {
			stdin.Close()
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		})
	}
}

func loadAverage() string {
	b, _ := os.ReadFile("/proc/loadavg")
	return strings.Join(strings.Fields(string(b))[:min(3, len(strings.Fields(string(b))))], " ")
}

// TestRepeatUnderLoadIsStable: the suite's verdicts do not flake. The protocol cases run 10
// times against the reference relay while CPU-burning processes (one per core, each spinning
// one thread: enough to keep every core contended without starving the other packages that
// go test runs at the same time) compete with it, and every case must get the same outcome (pass or info) every time. The selection leaves
// out the crypto cases (tens of seconds of tss-lib each; their waits are bounded per round) and
// the slow ones (frames of MiBs and many groups), to keep this test near a minute.
func TestRepeatUnderLoadIsStable(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the 10× run under load takes about a minute")
	}
	inst := startReference(t, false)
	cases, err := Select("!crypto && !slow && !browser", nil)
	if err != nil {
		t.Fatal(err)
	}
	startBurners(t, runtime.NumCPU())
	before := loadAverage()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	const runs = 10
	rep, err := Run(ctx, Options{Targets: []Target{{Name: inst.URL(), URL: inst.URL()}}, Cases: cases, Repeat: runs,
		Config: Config{Timeout: DefaultTimeout * raceSlowdown},
		Progress: func(run, of int, r *Report) {
			t.Logf("run %d/%d in %.1fs (load %s): %s", run, of, float64(r.DurationMS)/1000, loadAverage(), r.Counts())
		}})
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range rep.HarnessErrors {
		t.Error(e)
	}
	for _, r := range rep.Cases {
		if len(r.Runs) != runs || r.Outcome.Bad() {
			t.Errorf("%s: %s over %d runs %v\n%s\n%s", r.ID, r.Outcome, len(r.Runs), r.Runs, r.Detail, r.Transcript)
		}
	}
	t.Logf("%d cases × %d runs in %.1fs with %d burners, load average %s before, %s after: %s",
		len(cases), runs, float64(rep.DurationMS)/1000, runtime.NumCPU(), before, loadAverage(), rep.Counts())
}

// A case cut short by its bound ends error, and says which wait was cut and after how long.
func TestCutShortWaitNamesTheWait(t *testing.T) {
	for name, body := range map[string]func(t *T){
		"quiet window": func(t *T) { t.Quiet() },
		"event": func(t *T) {
			c := &Conn{Name: "B", t: t, arrived: make(chan struct{}, 1)}
			c.WaitEvent(protocol.EventSessionSignup, uuid.Nil)
		},
	} {
		t.Run(name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
			defer cancel()
			c := &Case{ID: "9/x", Requirement: "r", Level: Must, Run: body}
			out, detail := newT(ctx, Target{URL: "ws://unused/mpc"}, Config{Timeout: time.Minute, QuietWindow: time.Minute}, c).run()
			want := map[string]string{"quiet window": "for the quiet window (1m0s) to pass", "event": "for event sessionSignup on B"}[name]
			if out != Error || !strings.Contains(detail, "context deadline exceeded") || !strings.Contains(detail, "while waiting") || !strings.Contains(detail, want) {
				t.Fatalf("error naming the wait %q, got %s: %s", want, out, detail)
			}
		})
	}
}
