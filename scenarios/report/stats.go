// Package report holds what the bench and replay runs measure (latency summaries, throughput
// series, the machine) and writes it as results.json and a self-contained report.html whose
// plots are inline SVG.
package report

import (
	"bufio"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Latency summarises a latency distribution, in milliseconds.
type Latency struct {
	Count int     `json:"count"`
	P50   float64 `json:"p50_ms"`
	P90   float64 `json:"p90_ms"`
	P99   float64 `json:"p99_ms"`
	Max   float64 `json:"max_ms"`
	Mean  float64 `json:"mean_ms"`
}

// Summarize computes percentiles by the nearest-rank method; samples is sorted in place.
func Summarize(samples []time.Duration) Latency {
	if len(samples) == 0 {
		return Latency{}
	}
	slices.Sort(samples)
	var sum time.Duration
	for _, s := range samples {
		sum += s
	}
	return Latency{
		Count: len(samples),
		P50:   ms(rank(samples, 0.50)),
		P90:   ms(rank(samples, 0.90)),
		P99:   ms(rank(samples, 0.99)),
		Max:   ms(samples[len(samples)-1]),
		Mean:  ms(sum / time.Duration(len(samples))),
	}
}

// rank is the nearest-rank percentile of sorted samples.
func rank(sorted []time.Duration, p float64) time.Duration {
	i := int(float64(len(sorted))*p+0.999999) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Histogram buckets samples on a log scale for the latency plot.
type Histogram struct {
	// UpperMS are the bucket upper bounds in milliseconds; Counts[i] counts samples <= UpperMS[i]
	// and above the previous bound.
	UpperMS []float64 `json:"upper_ms"`
	Counts  []int     `json:"counts"`
}

// NewHistogram buckets sorted or unsorted samples into bounds 0.05 ms · 2^(k/4).
func NewHistogram(samples []time.Duration) Histogram {
	var h Histogram
	if len(samples) == 0 {
		return h
	}
	top := slices.Max(samples)
	bound := 0.05
	for {
		h.UpperMS = append(h.UpperMS, bound)
		if bound >= ms(top) {
			break
		}
		bound *= 1.189207115 // 2^(1/4)
	}
	h.Counts = make([]int, len(h.UpperMS))
	for _, s := range samples {
		v := ms(s)
		i, _ := slices.BinarySearch(h.UpperMS, v)
		h.Counts[min(i, len(h.Counts)-1)]++
	}
	return h
}

// Machine describes where a run happened.
type Machine struct {
	Hostname  string `json:"hostname"`
	OS        string `json:"os"`
	Arch      string `json:"arch"`
	CPUs      int    `json:"cpus"`
	CPUModel  string `json:"cpu_model,omitempty"`
	MemoryMiB int    `json:"memory_mib,omitempty"`
	GoVersion string `json:"go_version"`
	FDLimit   uint64 `json:"fd_limit,omitempty"`
	// LoadAvg is /proc/loadavg when the run started: other work on a shared machine skews figures.
	LoadAvg string `json:"load_avg,omitempty"`
}

// ThisMachine reads the figures of the machine the process runs on (Linux /proc when present).
func ThisMachine() Machine {
	m := Machine{OS: runtime.GOOS, Arch: runtime.GOARCH, CPUs: runtime.NumCPU(), GoVersion: runtime.Version()}
	m.Hostname, _ = os.Hostname()
	m.CPUModel = procField("/proc/cpuinfo", "model name")
	if kb := procField("/proc/meminfo", "MemTotal"); kb != "" {
		n, _ := strconv.Atoi(strings.TrimSuffix(kb, " kB"))
		m.MemoryMiB = n / 1024
	}
	m.FDLimit = fdLimit()
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		m.LoadAvg = strings.TrimSpace(string(b))
	}
	return m
}

// procField returns the value of the first "key: value" line of a /proc file.
func procField(path, key string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if ok && strings.TrimSpace(k) == key {
			return strings.TrimSpace(v)
		}
	}
	return ""
}

// ProcessRSS returns the resident set size (VmRSS) and its peak (VmHWM) of a process in bytes,
// from /proc/PID/status; pid 0 means this process.
func ProcessRSS(pid int) (rss, peak uint64) {
	path := "/proc/self/status"
	if pid > 0 {
		path = "/proc/" + strconv.Itoa(pid) + "/status"
	}
	kb := func(key string) uint64 {
		n, _ := strconv.ParseUint(strings.TrimSuffix(procField(path, key), " kB"), 10, 64)
		return n * 1024
	}
	return kb("VmRSS"), kb("VmHWM")
}
