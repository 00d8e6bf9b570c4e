package relay_test

import (
	"fmt"
	"io"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"mpcrelay/relay"
	"mpcrelay/relay/cluster"
	"mpcrelay/relay/cluster/natstest"
	"mpcrelay/relay/protocol"
)

// What limits a cluster that outgrows one machine, in one process (NATS, the nodes, the
// clients on the same cores, so these show the owner's and the fan-out's costs, not scale-out):
//
//	go test -run '^$' -bench 'ClusterOwner|ClusterFanout' -count 5 ./relay/
//
// ClusterOwner: many groups owned by one node (A), every party on another node (B), so every
// request is forwarded to A and runs there. ClusterFanout: a broadcast from a party on the
// owner to k receivers on one other node, and the NATS messages it costs.

// startNodes starts n relay nodes of one cluster on an in-process NATS server (n = 0: one
// single-node relay).
func startNodes(b *testing.B, n int) []*relay.Instance {
	b.Helper()
	if n == 0 {
		return []*relay.Instance{startRelay(b, false)}
	}
	url := natstest.Server(b).ClientURL()
	var nodes []*relay.Instance
	for range n {
		// Default heartbeat and dead-after: a benchmark loads the machine on purpose.
		nodes = append(nodes, startRelay(b, false, func(c *relay.Config) { c.Cluster = cluster.Config{URL: url, Name: "bench"} }))
	}
	return nodes
}

// ownedPair is a 2-party sign session in a group created on the owner's node by a third
// connection that is not a party; both parties are on node `at`.
func ownedPair(b testing.TB, owner, at string) (g, s uuid.UUID, parties [2]*raw) {
	b.Helper()
	creator := dialRaw(b, owner)
	g = createGroup(b, creator, 3, 1)
	for i := range parties {
		parties[i] = dialRaw(b, at)
		joinGroup(b, parties[i], g)
	}
	s = createSession(b, parties[0], g, protocol.KindSign, nil).UUID
	for i, r := range parties {
		if n := signup(b, r, g, s, protocol.KindSign); n != uint16(i+1) {
			b.Fatalf("signup: Expected: %d / Actual: %d", i+1, n)
		}
	}
	for _, r := range parties {
		r.event(protocol.EventSessionSignup)
		_ = r.ws.SetReadDeadline(time.Time{})
	}
	return g, s, parties
}

// BenchmarkClusterOwner: groups 2-party sessions whose groups all live on node A while both
// parties of each are on node B; each party broadcasts (to the other) in rounds of 64 frames.
// msgs/s is Session.message frames sent per second; on one node the same groups as reference.
func BenchmarkClusterOwner(b *testing.B) {
	const groups = 50
	for _, nodes := range []int{0, 2} {
		name := "single-node"
		if nodes > 0 {
			name = "owner-A-parties-B"
		}
		b.Run(fmt.Sprintf("%s/%d-groups", name, groups), func(b *testing.B) {
			ns := startNodes(b, nodes)
			owner, at := ns[0].URL(), ns[len(ns)-1].URL()
			var conns []*benchConn
			for range groups {
				g, s, ps := ownedPair(b, owner, at)
				for i, r := range ps {
					conns = append(conns, &benchConn{ws: r.ws, frame: messageFrame(b, g, s, uint16(i+1), nil), expect: 2 * benchBatch})
				}
			}
			runRounds(b, conns, conns, b.N)
		})
	}
}

// BenchmarkClusterOwnerLatency: one-way latency of a peer-to-peer ping-pong in one group owned
// by node A, both parties on node B, while the parties of `busy` other groups owned by A flood
// it with broadcasts from B (rounds of 16 frames, back to back). It shows how long the ping's
// request waits at the owner behind other groups' requests.
func BenchmarkClusterOwnerLatency(b *testing.B) {
	const busy, batch = 20, 16
	ns := startNodes(b, 2)
	owner, at := ns[0].URL(), ns[1].URL()
	g, s, ping := ownedPair(b, owner, at)
	var flood []*benchConn
	for range busy {
		fg, fs, ps := ownedPair(b, owner, at)
		for i, r := range ps {
			flood = append(flood, &benchConn{ws: r.ws, frame: messageFrame(b, fg, fs, uint16(i+1), nil), expect: 2 * batch})
		}
	}
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for _, c := range flood {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for range batch {
					if c.ws.WriteMessage(websocket.TextMessage, c.frame) != nil {
						return
					}
				}
				for range c.expect {
					_, rd, err := c.ws.NextReader()
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, rd)
				}
			}
		})
	}
	a, c := ping[0], ping[1]
	toC, toA := pingFrame(b, g, s, 1, 2), pingFrame(b, g, s, 2, 1)
	lat := make([]time.Duration, 0, 2*b.N)
	b.ResetTimer()
	for range b.N {
		lat = append(lat, oneWay(b, a.ws, c.ws, toC))
		lat = append(lat, oneWay(b, c.ws, a.ws, toA))
	}
	b.StopTimer()
	close(stop)
	for _, c := range flood {
		_ = c.ws.SetReadDeadline(time.Now()) // a flooder may wait for a peer that stopped
	}
	wg.Wait()
	slices.Sort(lat)
	b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
	b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
	b.ReportMetric(0, "ns/op")
}

// BenchmarkClusterFanout: a group of k+1 parties on node A, the sender (party 1) on A and the
// k receivers on node B; the sender broadcasts in rounds of 64 frames. msgs/s is broadcasts
// per second; nats-msgs/event is the owner's event messages published per broadcast
// (mpcrelay_cluster_event_messages_out_total): one per receiving node is the design.
func BenchmarkClusterFanout(b *testing.B) {
	for _, k := range []int{2, 8} {
		b.Run(fmt.Sprintf("%d-receivers-on-B", k), func(b *testing.B) {
			ns := startNodes(b, 2)
			sender := dialRaw(b, ns[0].URL())
			g := createGroup(b, sender, uint16(k+1), 1)
			rs := []*raw{sender}
			for range k {
				r := dialRaw(b, ns[1].URL())
				joinGroup(b, r, g)
				rs = append(rs, r)
			}
			s := createSession(b, sender, g, protocol.KindKeygen, nil).UUID
			for i, r := range rs {
				if i > 0 {
					r.event(protocol.EventSessionCreate)
				}
				signup(b, r, g, s, protocol.KindKeygen)
			}
			var readers []*benchConn
			for i, r := range rs {
				r.event(protocol.EventSessionSignup)
				_ = r.ws.SetReadDeadline(time.Time{})
				readers = append(readers, &benchConn{ws: r.ws, frame: messageFrame(b, g, s, uint16(i+1), nil), expect: benchBatch})
			}
			const out = "mpcrelay_cluster_event_messages_out_total"
			before := metric(b, ns[0], out)
			runRounds(b, readers[:1], readers, b.N)
			sent := float64((b.N + benchBatch - 1) / benchBatch * benchBatch)
			b.ReportMetric((metric(b, ns[0], out)-before)/sent, "nats-msgs/event")
		})
	}
}
