package run

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"mpcrelay/scenarios/replay"
	"mpcrelay/scenarios/report"
)

// A step fails for what went wrong, and says when the generator, not the target, was the limit.
func TestJudgeStepNamesTheLimit(t *testing.T) {
	ok := replay.Result{Delivered: 100, Latency: report.Latency{P99: 10}, Schedule: &replay.Schedule{Kept: true}}
	if st := judgeStep("relay", &ok, 50*time.Millisecond); !st.Pass || st.GroupsShort {
		t.Errorf("Expected: pass\nActual:   %+v", st)
	}
	slow := ok
	slow.Latency.P99 = 80
	if st := judgeStep("relay", &slow, 50*time.Millisecond); st.Pass || st.GroupsShort || !strings.Contains(st.Why, "p99 80.00 ms > 50 ms") {
		t.Errorf("Expected: fail on p99\nActual:   %+v", st)
	}
	short := ok
	short.Schedule = &replay.Schedule{Kept: true, NotStarted: 3}
	if st := judgeStep("relay", &short, 50*time.Millisecond); st.Pass || !st.GroupsShort || !strings.Contains(st.Why, "too few --groups") {
		t.Errorf("Expected: fail, too few groups\nActual:   %+v", st)
	}
	lost := short
	lost.Lost = 1
	if st := judgeStep("relay", &lost, 50*time.Millisecond); st.Pass || st.GroupsShort {
		t.Errorf("Expected: fail on a loss, not blamed on the groups\nActual:   %+v", st)
	}
}

// An interrupted search keeps the steps it finished and judges none it did not: a step cut
// short by the interruption would fail for the sessions it never ran.
func TestSweepInterruptedKeepsTheStepsItFinished(t *testing.T) {
	ctx, cancel := context.WithCancel(ctxT(t, time.Minute))
	defer cancel()
	var once sync.Once
	res, err := Sweep(ctx, SweepOptions{
		Replay: ReplayOptions{Trace: eddsaTrace(t), TraceName: "eddsa", Groups: 4, TimeScale: 0.01, SessionTimeout: 10 * time.Second},
		Start:  5, Factor: 2, Step: time.Second, SLO: 10 * time.Second,
		// The second step is cut 200 ms into its second of schedule.
		Progress: func(string) { once.Do(func() { time.AfterFunc(200*time.Millisecond, cancel) }) },
	})
	if err == nil || !strings.Contains(err.Error(), "interrupted") || res == nil {
		t.Fatalf("Expected: the results so far and an interruption\nActual:   %v, %v", res, err)
	}
	if n := len(res.Relay.Steps); n != 1 || !res.Relay.Steps[0].Pass {
		t.Errorf("Expected: the one finished step, passed\nActual:   %+v", res.Relay.Steps)
	}
	if !strings.HasPrefix(res.Verdict, "interrupted") {
		t.Errorf("Expected: the verdict says the search was interrupted\nActual:   %s", res.Verdict)
	}
}
