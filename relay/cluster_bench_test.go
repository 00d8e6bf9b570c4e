package relay_test

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"mpcrelay/relay"
	"mpcrelay/relay/cluster"
	"mpcrelay/relay/cluster/natstest"
	"mpcrelay/relay/protocol"
)

// Cluster mode costs, in one run against single-node mode so that ratios come from the same
// machine state. Everything — NATS, the relay nodes, the clients — shares this process and its
// cores, so the 3-node figures show the cost of crossing nodes, not scale-out.

// startTopology starts the relays of a topology and returns one URL per node.
func startTopology(b *testing.B, nodes int) []string {
	b.Helper()
	if nodes == 0 {
		return []string{startRelay(b, false).URL()}
	}
	url := natstest.Server(b).ClientURL()
	var urls []string
	for range nodes {
		// Default heartbeat and dead-after: a benchmark loads the machine on purpose.
		urls = append(urls, startRelay(b, false, func(c *relay.Config) { c.Cluster = cluster.Config{URL: url, Name: "bench"} }).URL())
	}
	return urls
}

// BenchmarkClusterLatency measures one-way delivery latency of a peer-to-peer Session.message
// (send → the receiver reads the event), one message in flight at a time (ping-pong between two
// parties), and reports p50 and p99. Topologies: both parties on one single-node relay; the
// group on the sender's node and the receiver on another (one NATS hop); the group on a third
// node (request to the owner, event to the receiver's node: two hops).
func BenchmarkClusterLatency(b *testing.B) {
	for _, tp := range []struct {
		name  string
		nodes int
		owner int // node of the group's creator (a third connection when it is neither party)
		a, c  int // nodes of the two parties that ping-pong
	}{
		{"single-node", 0, 0, 0, 0},
		{"one-hop", 2, 0, 0, 1},
		{"two-hops", 3, 2, 0, 1},
	} {
		b.Run(tp.name, func(b *testing.B) {
			urls := startTopology(b, tp.nodes)
			creator := dialRaw(b, urls[tp.owner])
			a, c := dialRaw(b, urls[tp.a]), dialRaw(b, urls[tp.c])
			g := createGroup(b, creator, 3, 1)
			joinGroup(b, a, g)
			joinGroup(b, c, g)
			s := createSession(b, creator, g, protocol.KindSign, nil) // sign: parties a and c
			for _, r := range []*raw{a, c} {
				r.ok(protocol.MethodSessionJoin, protocol.SessionParams{GroupID: g, SessionID: s.UUID, Kind: protocol.KindSign}, nil)
			}
			na, nc := signup(b, a, g, s.UUID, protocol.KindSign), signup(b, c, g, s.UUID, protocol.KindSign)
			a.event(protocol.EventSessionSignup)
			c.event(protocol.EventSessionSignup)
			_ = a.ws.SetReadDeadline(time.Time{})
			_ = c.ws.SetReadDeadline(time.Time{})
			toC := pingFrame(b, g, s.UUID, na, nc)
			toA := pingFrame(b, g, s.UUID, nc, na)
			lat := make([]time.Duration, 0, 2*b.N)
			b.ResetTimer()
			for range b.N {
				lat = append(lat, oneWay(b, a.ws, c.ws, toC))
				lat = append(lat, oneWay(b, c.ws, a.ws, toA))
			}
			b.StopTimer()
			slices.Sort(lat)
			b.ReportMetric(float64(lat[len(lat)/2].Microseconds()), "p50-µs")
			b.ReportMetric(float64(lat[len(lat)*99/100].Microseconds()), "p99-µs")
			b.ReportMetric(0, "ns/op") // the latencies are the figures
		})
	}
}

func pingFrame(b *testing.B, g, s uuid.UUID, from, to uint16) []byte {
	b.Helper()
	f, err := protocol.NewRequest(uint64(from), protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s,
		Kind: protocol.KindSign, Message: protocol.Message{Round: 1, Sender: from, Receiver: protocol.Receiver(to), UUID: s, Body: []byte(`"ping"`)}})
	if err != nil {
		b.Fatal(err)
	}
	return f
}

// oneWay sends frame from `from`, waits until `to` reads the event it triggers, then reads the
// sender's response (outside the measured time).
func oneWay(b *testing.B, from, to *websocket.Conn, frame []byte) time.Duration {
	start := time.Now()
	if err := from.WriteMessage(websocket.TextMessage, frame); err != nil {
		b.Fatal(err)
	}
	if _, _, err := to.ReadMessage(); err != nil {
		b.Fatal(err)
	}
	d := time.Since(start)
	if _, _, err := from.ReadMessage(); err != nil { // the response
		b.Fatal(err)
	}
	return d
}

// BenchmarkClusterThroughput runs many 3-party groups at once, each party broadcasting in
// rounds (as in BenchmarkThroughput), on one single-node relay and on a 3-node cluster where
// party i of every group is on node i and the groups' owners rotate over the nodes, so two of
// every three deliveries cross nodes. msgs/s is Session.message frames sent per second.
func BenchmarkClusterThroughput(b *testing.B) {
	const groups = 30
	for _, nodes := range []int{0, 3} {
		name := "single-node"
		if nodes > 0 {
			name = fmt.Sprintf("%d-nodes", nodes)
		}
		b.Run(fmt.Sprintf("%s/%d-groups", name, groups), func(b *testing.B) {
			urls := startTopology(b, nodes)
			var conns []*benchConn
			for k := range groups {
				rs := make([]*raw, 3)
				for i := range rs {
					rs[i] = dialRaw(b, urls[(k+i)%len(urls)]) // party 1's node owns the group
				}
				g := createGroup(b, rs[0], 3, 1)
				joinGroup(b, rs[1], g)
				joinGroup(b, rs[2], g)
				s := createSession(b, rs[0], g, protocol.KindKeygen, nil)
				for i, r := range rs {
					if i > 0 {
						r.event(protocol.EventSessionCreate)
					}
					signup(b, r, g, s.UUID, protocol.KindKeygen)
				}
				for i, r := range rs {
					r.event(protocol.EventSessionSignup)
					_ = r.ws.SetReadDeadline(time.Now().Add(2 * time.Minute)) // a lost frame fails the run
					conns = append(conns, &benchConn{ws: r.ws, frame: messageFrame(b, g, s.UUID, uint16(i+1), nil), expect: 3 * benchBatch})
				}
			}
			runRounds(b, conns, conns, b.N)
		})
	}
}
