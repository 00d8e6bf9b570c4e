package usage

import (
	"context"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"time"
)

// Source says where the relay's figures come from. With several processes or endpoints (the
// nodes of a clustered relay) their CPU and memory add up.
type Source struct {
	PIDs        []int    // read /proc/PID
	MetricsURLs []string // or scrape these Prometheus endpoints
	// InProcess: the relay runs inside the generator's process (the embedded relay, the
	// forwarder baseline), so their CPU cannot be told apart.
	InProcess bool
}

func (s Source) String() string {
	var parts []string
	for _, pid := range s.PIDs {
		parts = append(parts, fmt.Sprintf("/proc/%d", pid))
	}
	parts = append(parts, s.MetricsURLs...)
	switch {
	case len(parts) > 0:
		return strings.Join(parts, " + ")
	case s.InProcess:
		return "same process as the generator"
	}
	return "not measured (pass --relay-pid or --metrics-url)"
}

func (s Source) read(ctx context.Context) (Sample, error) {
	var sum Sample
	for _, pid := range s.PIDs {
		x, err := Process(pid)
		if err != nil {
			return Sample{}, err
		}
		sum.CPU, sum.RSS = sum.CPU+x.CPU, sum.RSS+x.RSS
	}
	for _, u := range s.MetricsURLs {
		x, err := Metrics(ctx, u)
		if err != nil {
			return Sample{}, err
		}
		sum.CPU, sum.RSS = sum.CPU+x.CPU, sum.RSS+x.RSS
	}
	return sum, nil
}

func (s Source) measured() bool { return len(s.PIDs) > 0 || len(s.MetricsURLs) > 0 }

// Report is what one run's traffic cost, and which side ran out of CPU.
type Report struct {
	WindowSec  float64 `json:"window_s"`
	Deliveries int64   `json:"deliveries"`
	// GeneratorCPUSec is this process's CPU time in the window (with an in-process relay or
	// forwarder, theirs too: see RelaySource).
	GeneratorCPUSec           float64 `json:"generator_cpu_s"`
	GeneratorCPUPerDeliveryUS float64 `json:"generator_cpu_per_delivery_us"`
	RelaySource               string  `json:"relay_source"`
	RelayCPUSec               float64 `json:"relay_cpu_s,omitempty"`
	RelayCPUPerDeliveryUS     float64 `json:"relay_cpu_per_delivery_us,omitempty"`
	// GeneratorToRelay is generator CPU per delivery over the relay's (the target: ≤ 0.5).
	GeneratorToRelay float64 `json:"generator_to_relay_cpu,omitempty"`
	RelayPeakRSS     uint64  `json:"relay_peak_rss_bytes,omitempty"`
	// MachineCPUs and MachineBusy (0..1, every process on the machine) describe this machine.
	MachineCPUs int     `json:"machine_cpus"`
	MachineBusy float64 `json:"machine_busy"`
	// Saturated names the side that ran out of CPU: relay, generator, other (other processes
	// took the machine), or none.
	Saturated string `json:"saturated"`
	Verdict   string `json:"verdict"`
	Errors    string `json:"errors,omitempty"`
}

// Meter measures one window: Start, then Stop with the deliveries made in it.
type Meter struct {
	src     Source
	start   time.Time
	self    Sample
	relay   Sample
	machine Machine
	errs    []string

	mu      sync.Mutex
	peakRSS uint64
	stop    context.CancelFunc
	done    chan struct{}
}

// Start takes the first samples and samples the relay's memory every 250 ms until Stop.
func Start(ctx context.Context, src Source) *Meter {
	m := &Meter{src: src, start: time.Now(), self: Self(), done: make(chan struct{})}
	var err error
	if m.machine, err = ReadMachine(); err != nil {
		m.errs = append(m.errs, err.Error())
	}
	if src.measured() {
		if m.relay, err = src.read(ctx); err != nil {
			m.errs = append(m.errs, err.Error())
		}
		m.peakRSS = m.relay.RSS
	}
	ctx, m.stop = context.WithCancel(ctx)
	go m.sampleRSS(ctx)
	return m
}

func (m *Meter) sampleRSS(ctx context.Context) {
	defer close(m.done)
	if !m.src.measured() {
		return
	}
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		if s, err := m.src.read(ctx); err == nil {
			m.mu.Lock()
			m.peakRSS = max(m.peakRSS, s.RSS)
			m.mu.Unlock()
		}
	}
}

// Stop ends the window and judges it.
func (m *Meter) Stop(ctx context.Context, deliveries int64) Report {
	m.stop()
	<-m.done
	window := time.Since(m.start)
	self := Self()
	r := Report{WindowSec: window.Seconds(), Deliveries: deliveries, RelaySource: m.src.String(),
		MachineCPUs: runtime.NumCPU()}
	r.GeneratorCPUSec = (self.CPU - m.self.CPU).Seconds()
	per := func(cpu float64) float64 {
		if deliveries == 0 {
			return 0
		}
		return cpu / float64(deliveries) * 1e6
	}
	r.GeneratorCPUPerDeliveryUS = per(r.GeneratorCPUSec)
	if m.src.measured() {
		if s, err := m.src.read(ctx); err != nil {
			m.errs = append(m.errs, err.Error())
		} else {
			r.RelayCPUSec = (s.CPU - m.relay.CPU).Seconds()
			r.RelayCPUPerDeliveryUS = per(r.RelayCPUSec)
			m.mu.Lock()
			r.RelayPeakRSS = max(m.peakRSS, s.RSS)
			m.mu.Unlock()
			if r.RelayCPUPerDeliveryUS > 0 {
				r.GeneratorToRelay = r.GeneratorCPUPerDeliveryUS / r.RelayCPUPerDeliveryUS
			}
		}
	}
	if mach, err := ReadMachine(); err == nil && mach.Total > m.machine.Total {
		r.MachineBusy = float64(mach.Busy-m.machine.Busy) / float64(mach.Total-m.machine.Total)
	}
	r.Saturated, r.Verdict = judge(r, m.src)
	if len(m.errs) > 0 {
		r.Errors = fmt.Sprint(m.errs)
	}
	return r
}

// saturatedAt: a CPU counts as saturated when this share of it was busy.
const saturatedAt = 0.9

// judge says which side ran out of CPU. Shares are in cores: CPU seconds per second.
func judge(r Report, src Source) (string, string) {
	if r.WindowSec <= 0 {
		return "none", "no window"
	}
	cpus := float64(r.MachineCPUs)
	gen := r.GeneratorCPUSec / r.WindowSec
	rel := r.RelayCPUSec / r.WindowSec
	local := len(src.PIDs) > 0 || src.InProcess // the relay shares this machine
	other := r.MachineBusy*cpus - gen
	if local && !src.InProcess {
		other -= rel
	}
	other = max(0, other)
	shares := fmt.Sprintf("machine %.0f%% busy of %d CPUs: generator %.2f cores, relay %s, other processes %.2f cores",
		r.MachineBusy*100, r.MachineCPUs, gen, relayShare(rel, src), other)
	if r.MachineBusy >= saturatedAt {
		side := "generator" // with an in-process relay: the pair
		switch {
		case src.InProcess:
			if other > gen {
				side = "other"
			}
		case local && rel >= gen && rel >= other:
			side = "relay"
		case other > gen && (!local || other > rel):
			side = "other"
		}
		return side, fmt.Sprintf("CPU-bound: the machine's CPUs were saturated, mostly by the %s (%s)", sideName(side, src), shares)
	}
	if src.measured() && rel >= saturatedAt*cpus && !local {
		return "relay", fmt.Sprintf("the relay used %.2f cores (%s)", rel, shares)
	}
	return "none", "no CPU saturated (" + shares + "): the limit is elsewhere (latency, locks, the offered load)"
}

func relayShare(rel float64, src Source) string {
	switch {
	case src.InProcess:
		return "in the generator's process"
	case !src.measured():
		return "not measured"
	}
	return fmt.Sprintf("%.2f cores", rel)
}

func sideName(side string, src Source) string {
	switch side {
	case "other":
		return "other processes"
	case "generator":
		if src.InProcess {
			return "generator and in-process relay together"
		}
	}
	return side
}

// Merge combines the reports of the segments of one load, run at the same time by separate
// generator processes against one relay: the generators' CPU adds up; the relay's was read by
// each over about the same window, so the largest reading stands for it; the machine's busy
// share is the largest seen.
func Merge(rs []Report) Report {
	if len(rs) == 0 {
		return Report{}
	}
	m := Report{RelaySource: rs[0].RelaySource, MachineCPUs: rs[0].MachineCPUs}
	var errs []string
	for _, r := range rs {
		m.WindowSec = max(m.WindowSec, r.WindowSec)
		m.Deliveries += r.Deliveries
		m.GeneratorCPUSec += r.GeneratorCPUSec
		m.RelayCPUSec = max(m.RelayCPUSec, r.RelayCPUSec)
		m.RelayPeakRSS = max(m.RelayPeakRSS, r.RelayPeakRSS)
		m.MachineBusy = max(m.MachineBusy, r.MachineBusy)
		if r.Errors != "" {
			errs = append(errs, r.Errors)
		}
	}
	if m.Deliveries > 0 {
		m.GeneratorCPUPerDeliveryUS = m.GeneratorCPUSec / float64(m.Deliveries) * 1e6
		m.RelayCPUPerDeliveryUS = m.RelayCPUSec / float64(m.Deliveries) * 1e6
	}
	if m.RelayCPUPerDeliveryUS > 0 {
		m.GeneratorToRelay = m.GeneratorCPUPerDeliveryUS / m.RelayCPUPerDeliveryUS
	}
	var src Source
	switch {
	case strings.HasPrefix(m.RelaySource, "/proc/"):
		src.PIDs = []int{1}
	case strings.HasPrefix(m.RelaySource, "http"):
		src.MetricsURLs = []string{m.RelaySource}
	case strings.HasPrefix(m.RelaySource, "same process"):
		src.InProcess = true
	}
	m.Saturated, m.Verdict = judge(m, src)
	if len(errs) > 0 {
		m.Errors = strings.Join(errs, "; ")
	}
	return m
}
