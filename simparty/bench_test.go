package simparty

import (
	"bytes"
	"context"
	"slices"
	"testing"
	"time"

	"mpcrelay/relay"
)

// The benchmarks run the same keygen or signing through the reference relay (real sockets on
// loopback) and through the in-memory router, interleaved in one run so that both see the same
// machine load, and report the medians and their ratio:
//
//	go test -run '^$' -bench 'RelayVsMemory' -benchtime 5x ./simparty
//
// relay-ms and memory-ms are medians over the b.N runs of each; relay/memory is their ratio.
func benchRelay(b *testing.B) string {
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	inst, err := relay.Start(context.Background(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = inst.Shutdown(context.Background()) })
	return inst.URL()
}

func median(d []time.Duration) float64 {
	s := slices.Clone(d)
	slices.Sort(s)
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return float64(m) / float64(time.Millisecond)
}

// compare runs relayRun and memRun alternately b.N times each and reports medians and the ratio.
func compare(b *testing.B, relayRun, memRun func() error) {
	var viaRelay, inMemory []time.Duration
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		type timed struct {
			run  func() error
			into *[]time.Duration
		}
		pair := []timed{{relayRun, &viaRelay}, {memRun, &inMemory}}
		if i%2 == 1 {
			pair[0], pair[1] = pair[1], pair[0] // alternate which goes first
		}
		for _, p := range pair {
			start := time.Now()
			if err := p.run(); err != nil {
				b.Fatal(err)
			}
			*p.into = append(*p.into, time.Since(start))
		}
	}
	b.StopTimer()
	r, m := median(viaRelay), median(inMemory)
	b.ReportMetric(0, "ns/op") // the pair's mean means little; the medians below are the figures
	b.ReportMetric(r, "relay-ms")
	b.ReportMetric(m, "memory-ms")
	b.ReportMetric(r/m, "relay/memory")
}

func BenchmarkKeygenRelayVsMemory(b *testing.B) {
	if err := SetTSSLogLevel("error"); err != nil {
		b.Fatal(err)
	}
	url := benchRelay(b)
	for _, curve := range []Curve{CurveSecp256k1, CurveEd25519} {
		b.Run(string(curve), func(b *testing.B) {
			cfg := KeygenConfig{URL: url, Curve: curve, Threshold: 1, Parties: 3, Timeout: 5 * time.Minute}
			compare(b,
				func() error { _, err := Keygen(context.Background(), cfg); return err },
				func() error { _, err := KeygenLocal(context.Background(), cfg); return err })
		})
	}
}

func BenchmarkSignRelayVsMemory(b *testing.B) {
	if err := SetTSSLogLevel("error"); err != nil {
		b.Fatal(err)
	}
	url := benchRelay(b)
	for _, curve := range []Curve{CurveSecp256k1, CurveEd25519} {
		b.Run(string(curve), func(b *testing.B) {
			shares, err := KeygenLocal(context.Background(), KeygenConfig{Curve: curve, Threshold: 1, Parties: 3, Timeout: 5 * time.Minute})
			if err != nil {
				b.Fatal(err)
			}
			cfg := SignConfig{URL: url, Shares: shares[:2], Message: bytes.Repeat([]byte{7}, 32), Timeout: 5 * time.Minute}
			compare(b,
				func() error { _, err := Sign(context.Background(), cfg); return err },
				func() error { _, err := SignLocal(context.Background(), cfg); return err })
		})
	}
}
