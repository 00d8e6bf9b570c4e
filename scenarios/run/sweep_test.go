package run

import (
	"strings"
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
