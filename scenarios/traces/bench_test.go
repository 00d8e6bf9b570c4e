package traces

import (
	"context"
	"testing"
	"time"

	"mpcrelay/forwarder"
	"mpcrelay/relay"
	"mpcrelay/scenarios/replay"
	"mpcrelay/scenarios/trace"
)

// BenchmarkReplay replays the checked-in trace through the reference relay and, as the
// baseline of the same run, through the minimal forwarder. Each iteration is one replay of
// every session by `groups` concurrent groups; besides ns/op it reports delivered messages/s
// and the p99 delivery latency. Compare medians: go test -bench Replay -count 5 ./scenarios/traces
func BenchmarkReplay(b *testing.B) {
	full, err := Default()
	if err != nil {
		b.Fatal(err)
	}
	var eddsa trace.Trace
	for _, s := range full.Sessions {
		if s.Curve == "eddsa" {
			eddsa.Sessions = append(eddsa.Sessions, s)
		}
	}
	for _, tc := range []struct {
		name   string
		tr     *trace.Trace
		groups int
	}{{"eddsa/groups=100", &eddsa, 100}, {"all/groups=30", full, 30}} {
		for _, target := range []string{replay.TargetRelay, replay.TargetForwarder} {
			b.Run(tc.name+"/"+target, func(b *testing.B) {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
				defer cancel()
				url := startTarget(b, ctx, target)
				var delivered int64
				var elapsed time.Duration
				var p99 float64
				b.ResetTimer()
				for range b.N {
					res, err := replay.Run(ctx, replay.Config{URL: url, Target: target, Trace: tc.tr, Groups: tc.groups})
					if err != nil {
						b.Fatal(err)
					}
					if !res.Clean() {
						b.Fatalf("replay not clean: %+v", res)
					}
					delivered += res.Delivered
					elapsed += res.Elapsed
					p99 = max(p99, res.Latency.P99)
				}
				b.ReportMetric(float64(delivered)/elapsed.Seconds(), "msgs/s")
				b.ReportMetric(p99, "p99-ms")
			})
		}
	}
}

func startTarget(b *testing.B, ctx context.Context, target string) string {
	if target == replay.TargetForwarder {
		url, stop, err := forwarder.Start(ctx, "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = stop(context.Background()) })
		return url
	}
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	inst, err := relay.Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = inst.Shutdown(context.Background()) })
	return inst.URL()
}
