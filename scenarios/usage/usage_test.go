package usage

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

func TestProcessReadsProcStat(t *testing.T) {
	// Spend at least 50 ms of CPU (however long that takes on a busy machine): /proc counts
	// in 10 ms ticks.
	start, deadline := Self().CPU, time.Now().Add(10*time.Second)
	for Self().CPU-start < 50*time.Millisecond && time.Now().Before(deadline) {
	}
	s, err := Process(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU <= 0 || s.RSS == 0 {
		t.Errorf("Expected: CPU time and memory of this process\nActual:   %+v", s)
	}
	if _, err := Process(1 << 30); err == nil {
		t.Error("Expected: a missing process is an error")
	}
}

func TestMetricsReadsTheProcessCollector(t *testing.T) {
	body := "# HELP process_cpu_seconds_total Total user and system CPU time spent in seconds.\n" +
		"# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total 12.5\n" +
		"# HELP process_resident_memory_bytes Resident memory size in bytes.\n" +
		"# TYPE process_resident_memory_bytes gauge\nprocess_resident_memory_bytes 1.048576e+06\n"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/empty" {
			fmt.Fprintln(w, "# TYPE other gauge\nother 1")
			return
		}
		fmt.Fprint(w, body)
	}))
	defer srv.Close()
	s, err := Metrics(context.Background(), srv.URL+"/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if s.CPU != 12500*time.Millisecond || s.RSS != 1<<20 {
		t.Errorf("Expected: 12.5 s, 1 MiB\nActual:   %+v", s)
	}
	if _, err := Metrics(context.Background(), srv.URL+"/empty"); err == nil || !strings.Contains(err.Error(), "process_cpu_seconds_total") {
		t.Errorf("Expected: an error naming the missing metric\nActual:   %v", err)
	}
}

func TestJudgeNamesTheSaturatedSide(t *testing.T) {
	for _, tc := range []struct {
		r    Report
		src  Source
		want string
	}{
		{Report{WindowSec: 10, MachineCPUs: 2, MachineBusy: 0.97, GeneratorCPUSec: 3, RelayCPUSec: 15}, Source{PIDs: []int{1}}, "relay"},
		{Report{WindowSec: 10, MachineCPUs: 2, MachineBusy: 0.97, GeneratorCPUSec: 15, RelayCPUSec: 3}, Source{PIDs: []int{1}}, "generator"},
		{Report{WindowSec: 10, MachineCPUs: 2, MachineBusy: 0.97, GeneratorCPUSec: 3, RelayCPUSec: 3}, Source{PIDs: []int{1}}, "other"},
		{Report{WindowSec: 10, MachineCPUs: 2, MachineBusy: 0.5, GeneratorCPUSec: 3, RelayCPUSec: 3}, Source{PIDs: []int{1}}, "none"},
		{Report{WindowSec: 10, MachineCPUs: 2, MachineBusy: 0.99, GeneratorCPUSec: 15}, Source{InProcess: true}, "generator"},
		{Report{WindowSec: 10, MachineCPUs: 2, MachineBusy: 0.99, GeneratorCPUSec: 1}, Source{InProcess: true}, "other"},
	} {
		if got, why := judge(tc.r, tc.src); got != tc.want {
			t.Errorf("Expected: %s\nActual:   %s (%s)", tc.want, got, why)
		}
	}
}
