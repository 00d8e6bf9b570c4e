package run

import (
	"math/rand/v2"
	"time"

	"mpcrelay/faultproxy"
	"mpcrelay/scenarios/spec"
)

// proxyRules turns the proxy faults of a scenario into faultproxy rules. Rules run one at a
// time under the proxy's lock, so they share one random source without locking.
func proxyRules(faults []spec.Fault, seed uint64) []faultproxy.Rule {
	rng := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	var rules []faultproxy.Rule
	for _, f := range faults {
		for _, dir := range directions(f.Direction) {
			rules = append(rules, proxyRule(f, dir, rng))
		}
	}
	return rules
}

func directions(d string) []faultproxy.Direction {
	switch d {
	case spec.DirectionUp:
		return []faultproxy.Direction{faultproxy.ToRelay}
	case spec.DirectionDown:
		return []faultproxy.Direction{faultproxy.ToClient}
	}
	return []faultproxy.Direction{faultproxy.ToRelay, faultproxy.ToClient}
}

func proxyRule(f spec.Fault, dir faultproxy.Direction, rng *rand.Rand) faultproxy.Rule {
	hit := func() bool { return rng.Float64() < f.Probability }
	r := faultproxy.Rule{Name: f.Kind + " " + dir.String(), Dir: dir}
	switch f.Kind {
	case spec.FaultLatency:
		// Every frame waits latency ± jitter; later frames of the connection queue behind it,
		// as on a slow link, so per-connection order is kept.
		r.Apply = func(fr *faultproxy.Frame) {
			d := f.Latency.D()
			if j := f.Jitter.D(); j > 0 {
				d += time.Duration((rng.Float64()*2 - 1) * float64(j))
			}
			if d > 0 {
				fr.Delay(d)
			}
		}
	case spec.FaultDuplicate:
		r.Apply = func(fr *faultproxy.Frame) {
			if hit() {
				fr.Duplicate()
			}
		}
	case spec.FaultDelay:
		r.Apply = func(fr *faultproxy.Frame) {
			if hit() {
				fr.Delay(f.Delay.D())
			}
		}
	case spec.FaultReorder:
		r.Apply = func(fr *faultproxy.Frame) {
			if hit() {
				fr.Hold(100 * time.Millisecond)
			}
		}
	}
	return r
}
