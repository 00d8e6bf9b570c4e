package cluster_test

import (
	"context"
	"slices"
	"sync"
	"testing"
	"time"

	"mpcrelay/relay/cluster"
	"mpcrelay/relay/cluster/natstest"
)

// BenchmarkOwnerBesideSlowConnection: 16 connections of one node forward requests to one owner
// (each keeps 4 on their way, as the relay pipelines Session.message bursts) while another
// connection's requests each take 1 ms at the owner — a request held up by its own group, e.g.
// waiting for the group's lock. It reports the 16 connections' requests/s and the p50 and p99 of
// their forward → done times. An owner that runs forwarded requests one at a time makes every
// connection wait behind the slow one. The handler does nothing else, so this measures the
// transport's scheduling alone:
//
//	go test -run '^$' -bench OwnerBesideSlowConnection -benchtime 20000x -count 5 ./relay/cluster/
func BenchmarkOwnerBesideSlowConnection(b *testing.B) {
	const (
		conns  = 16
		window = 4
		slow   = time.Millisecond
	)
	url := natstest.Server(b).ClientURL()
	home := benchNode(b, url, newRecorder())
	oh := newRecorder()
	owner := benchNode(b, url, oh)
	oh.execute = func(r *cluster.Request) {
		if r.Conn == 0 {
			time.Sleep(slow)
		}
		r.Respond([]byte("ok"))
	}
	stop := make(chan struct{})
	slowDone := make(chan struct{})
	go func() {
		defer close(slowDone)
		for {
			select {
			case <-stop:
				return
			default:
			}
			_, _ = home.Forward(context.Background(), owner.ID(), 0, 0, []byte("slow"))
		}
	}()
	per := (b.N + conns - 1) / conns
	lat := make([][]time.Duration, conns)
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for c := range conns {
		wg.Go(func() {
			type sent struct {
				pd *cluster.Pending
				at time.Time
			}
			var flight []sent
			wait := func() {
				s := flight[0]
				flight = flight[1:]
				if res, err := s.pd.Wait(context.Background()); err != nil || !res.Responded {
					b.Errorf("request: %+v %v", res, err)
				}
				lat[c] = append(lat[c], time.Since(s.at))
			}
			for range per {
				if len(flight) == window {
					wait()
				}
				flight = append(flight, sent{home.Begin(owner.ID(), uint64(c+1), 0, []byte("fast")), time.Now()})
			}
			for len(flight) > 0 {
				wait()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	close(stop)
	<-slowDone
	all := slices.Concat(lat...)
	slices.Sort(all)
	b.ReportMetric(float64(len(all))/elapsed.Seconds(), "req/s")
	b.ReportMetric(float64(all[len(all)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(all[len(all)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(0, "ns/op")
}

func benchNode(b *testing.B, url string, h cluster.Handler) *cluster.Node {
	b.Helper()
	// Default heartbeat and dead-after: a benchmark loads the machine on purpose.
	cfg := cluster.Config{URL: url, Name: "bench", RequestTimeout: time.Minute}
	n, err := cluster.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	if err := n.Start(h); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(n.Close)
	return n
}
