// Package usage measures what a load run costs: CPU time and memory of the relay under test
// (from /proc with its process id, or from its Prometheus /metrics) and of the generator
// itself, and how busy the machine's CPUs were, so a report can say which side saturated.
package usage

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample is a process's CPU time so far and its memory now.
type Sample struct {
	CPU time.Duration // user + system
	RSS uint64        // resident set size, bytes
}

// clockTick is USER_HZ, the unit of /proc/PID/stat times: 100 on every Linux the kernel's
// ABI allows user space to see.
const clockTick = 100

// Process reads /proc/PID/stat (utime, stime) and /proc/PID/status (VmRSS).
func Process(pid int) (Sample, error) {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return Sample{}, fmt.Errorf("relay process %d: %w", pid, err)
	}
	// The command name (field 2) is in parentheses and may hold spaces: count from its end.
	s := string(raw)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return Sample{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return Sample{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	ut, err1 := strconv.ParseUint(f[11], 10, 64) // field 14
	st, err2 := strconv.ParseUint(f[12], 10, 64) // field 15
	if err1 != nil || err2 != nil {
		return Sample{}, fmt.Errorf("/proc/%d/stat: unexpected format", pid)
	}
	out := Sample{CPU: time.Duration(ut+st) * time.Second / clockTick}
	out.RSS = statusKB(fmt.Sprintf("/proc/%d/status", pid), "VmRSS")
	return out, nil
}

// Self is this process: CPU from getrusage (microsecond resolution), memory from /proc.
func Self() Sample {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	cpu := time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	return Sample{CPU: cpu, RSS: statusKB("/proc/self/status", "VmRSS")}
}

func statusKB(path, key string) uint64 {
	f, err := os.Open(path)
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && k == key {
			n, _ := strconv.ParseUint(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return n * 1024
		}
	}
	return 0
}

// Metrics scrapes a Prometheus text endpoint (the relay's /metrics) and reads the standard
// process collector's process_cpu_seconds_total and process_resident_memory_bytes.
func Metrics(ctx context.Context, url string) (Sample, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return Sample{}, fmt.Errorf("--metrics-url: %w", err)
	}
	req.Header.Set("Accept", "text/plain; version=0.0.4")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return Sample{}, fmt.Errorf("metrics %s: %w", url, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return Sample{}, fmt.Errorf("metrics %s: HTTP %s", url, resp.Status)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		return Sample{}, fmt.Errorf("metrics %s: %w", url, err)
	}
	value := func(name string) (float64, bool) {
		f := fams[name]
		if f == nil || len(f.GetMetric()) == 0 {
			return 0, false
		}
		m := f.GetMetric()[0]
		switch {
		case m.GetCounter() != nil:
			return m.GetCounter().GetValue(), true
		case m.GetGauge() != nil:
			return m.GetGauge().GetValue(), true
		case m.GetUntyped() != nil:
			return m.GetUntyped().GetValue(), true
		}
		return 0, false
	}
	cpu, ok := value("process_cpu_seconds_total")
	if !ok {
		return Sample{}, fmt.Errorf("metrics %s: no process_cpu_seconds_total (the relay must export Prometheus' process collector)", url)
	}
	rss, _ := value("process_resident_memory_bytes")
	return Sample{CPU: time.Duration(cpu * float64(time.Second)), RSS: uint64(rss)}, nil
}

// Machine is the CPU time of the whole machine so far, from /proc/stat's first line.
type Machine struct {
	Busy, Total time.Duration // summed over all CPUs
}

// ReadMachine reads /proc/stat; busy is everything but idle and iowait.
func ReadMachine() (Machine, error) {
	f, err := os.Open("/proc/stat")
	if err != nil {
		return Machine{}, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	if !sc.Scan() {
		return Machine{}, errors.New("/proc/stat: empty")
	}
	fields := strings.Fields(sc.Text())
	if len(fields) < 5 || fields[0] != "cpu" {
		return Machine{}, errors.New("/proc/stat: unexpected format")
	}
	var m Machine
	for i, v := range fields[1:] {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return Machine{}, errors.New("/proc/stat: unexpected format")
		}
		if i >= 8 { // guest times are already counted in user and nice
			break
		}
		d := time.Duration(n) * time.Second / clockTick
		m.Total += d
		if i != 3 && i != 4 { // idle, iowait
			m.Busy += d
		}
	}
	return m, nil
}
