package relay_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"mpcrelay/forwarder"
	"mpcrelay/relay"
)

// Many groups at once: 1,000 3-party keygen sessions, every party broadcasting Session.message
// frames (1 KiB bodies) in rounds, through the relay and through the forwarder (a room per
// session) in the same run. With a relay-wide lock the 3,000 read pumps would take turns; here
// each group has its own (doc.go):
//
//	go test -run '^$' -bench ManyGroups -benchtime 60000x -count 5 ./relay/
//
// Setting up 3,000 connections and 1,000 sessions takes seconds, so each sub-benchmark sets up
// once per process and its later runs reuse the connections (manyFixtures).
const (
	manyGroups = 1000
	manyBatch  = 4 // frames per party per round: 3,000 parties send 12,000 frames a round
)

var (
	manyMu       sync.Mutex
	manyFixtures = map[string][]*benchConn{}
	manyClose    []func()
)

// closeManyFixtures ends what the ManyGroups fixtures started (TestMain calls it).
func closeManyFixtures() {
	manyMu.Lock()
	defer manyMu.Unlock()
	for _, f := range manyClose {
		f()
	}
}

func manyFixture(b *testing.B, setup func() ([]*benchConn, func())) []*benchConn {
	b.Helper()
	manyMu.Lock()
	defer manyMu.Unlock()
	if f, ok := manyFixtures[b.Name()]; ok {
		return f
	}
	conns, done := setup()
	manyFixtures[b.Name()] = conns
	manyClose = append(manyClose, done)
	return conns
}

func BenchmarkManyGroups(b *testing.B) {
	b.Run("relay", func(b *testing.B) {
		conns := manyFixture(b, func() ([]*benchConn, func()) {
			cfg := relay.DefaultConfig()
			cfg.Addr = "127.0.0.1:0"
			inst, err := relay.Start(context.Background(), cfg)
			if err != nil {
				b.Fatal(err)
			}
			var conns []*benchConn
			ftb := &fixtureTB{TB: b}
			for range manyGroups {
				g, s, rs := keygenReady(ftb, inst.URL(), 3, 1)
				for i, r := range rs {
					_ = r.ws.SetReadDeadline(time.Time{})
					// Each party reads its own responses and the other two parties' events.
					conns = append(conns, &benchConn{ws: r.ws, frame: messageFrame(b, g, s, uint16(i+1), nil), expect: 3 * manyBatch})
				}
			}
			return conns, func() {
				for _, f := range ftb.cleanups {
					f()
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = inst.Shutdown(ctx)
			}
		})
		runRoundsOf(b, conns, conns, b.N, manyBatch)
	})
	b.Run("forwarder", func(b *testing.B) {
		conns := manyFixture(b, func() ([]*benchConn, func()) {
			fw := forwarder.New()
			srv := httptest.NewServer(fw)
			url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
			var conns []*benchConn
			for gi := range manyGroups {
				room := fmt.Sprintf("g%d", gi)
				for i := range 3 {
					ws, _, err := websocket.DefaultDialer.Dial(url+"?room="+room, nil)
					if err != nil {
						b.Fatal(err)
					}
					conns = append(conns, &benchConn{ws: ws, frame: messageFrame(b, [16]byte{byte(gi)}, [16]byte{1}, uint16(i+1), nil), expect: 2 * manyBatch})
				}
				waitPeers(b, fw, room, 3)
			}
			return conns, func() {
				for _, c := range conns {
					c.ws.Close()
				}
				fw.Close()
				srv.Close()
			}
		})
		runRoundsOf(b, conns, conns, b.N, manyBatch)
	})
}

// fixtureTB keeps the cleanups of a fixture's set-up for the end of the process, so that the
// fixture outlives the benchmark run that made it.
type fixtureTB struct {
	testing.TB
	cleanups []func()
}

func (f *fixtureTB) Cleanup(fn func()) { f.cleanups = append(f.cleanups, fn) }
