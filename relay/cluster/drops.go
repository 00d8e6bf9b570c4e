package cluster

import (
	"sync/atomic"

	"github.com/nats-io/nats.go"
)

// Messages a node could not keep up with. nats.go holds what a subscription received and its
// handler has not taken yet; past a bound (its pending limits) it drops the message, so that a
// node that cannot keep up — starved of CPU, or stuck — does not buffer all that other nodes
// send it. A node with unbounded limits would never drop, but its memory would have no bound.
//
// A dropped message may have been an event for one of the node's connections, an owner's
// reply, a request or the notice that a connection closed, and nothing says whose: every
// cross-node membership may now miss something (a member that silently misses an event, a
// member an owner is never told left). One relay drops a client that cannot keep up (§6.2);
// the cluster's counterpart is the loss of the link, as for every other loss: the node starts
// a new epoch (relink: its memberships across nodes end, its connections in other nodes'
// groups are closed with 4002) and says so at once (a heartbeat), so the others drop their
// side. A drop is found before the subscription's next message is handled — nothing after the
// gap counts in the incarnation that lost it — or, if none comes, when nats.go reports the
// slow consumer. Heartbeats are only counted: a lost one costs nothing (the next one says the
// same), and a lost goodbye leaves the node to be declared dead.

// Pending limits of each subscription: past them a node is not keeping up.
const (
	// pendingMsgs: many times the messages a busy node has queued at any moment (the cluster
	// benchmarks' bursts are a few thousand).
	pendingMsgs = 1 << 16
	// pendingFloor: the bound of the bytes, unless 8 of the largest messages need more.
	pendingFloor = 64 << 20
)

// pendingBytes bounds the bytes each subscription holds.
func (c Config) pendingBytes() int {
	return max(pendingFloor, 8*(int(max(c.MaxFrameBytes, 1<<20))+envelopeRoom))
}

// dropWatch follows the messages NATS dropped on one subscription.
type dropWatch struct {
	sub  atomic.Pointer[nats.Subscription]
	seen atomic.Int64 // drops already counted (a relink since voided what they carried)
}

func (w *dropWatch) dropped() int64 {
	s := w.sub.Load()
	if s == nil {
		return 0
	}
	d, err := s.Dropped()
	if err != nil {
		return 0
	}
	return int64(d)
}

// fresh tells whether messages were dropped since the last count.
func (w *dropWatch) fresh() bool { return w.dropped() > w.seen.Load() }

// count counts the drops so far as handled.
func (w *dropWatch) count(m *metrics) {
	d := w.dropped()
	if seen := w.seen.Swap(d); d > seen {
		m.dropped.Add(float64(d - seen))
	}
}

// checkDrops starts a new incarnation of the link if NATS dropped messages of w's subscription
// (requests or deliveries) since the last one (see above).
func (n *Node) checkDrops(w *dropWatch, what string) {
	if !w.fresh() {
		return
	}
	select {
	case <-n.stop:
		return // closing
	default:
	}
	n.log.Warn("NATS dropped "+what+" for this node: it cannot keep up; ending its cluster memberships",
		"dropped", w.dropped()-w.seen.Load(), "pending_msgs", pendingMsgs, "pending_bytes", n.cfg.pendingBytes())
	if n.relinkIf(w.fresh, "NATS dropped "+what+" for this node (past its pending limits: it cannot keep up)") {
		n.heartbeat() // of the new epoch: the other nodes drop their side now
	}
}

// heartbeatsDropped counts heartbeats NATS dropped (see above).
func (n *Node) heartbeatsDropped() {
	before := n.hbDrops.seen.Load()
	n.hbDrops.count(n.m)
	if d := n.hbDrops.seen.Load() - before; d > 0 {
		n.log.Warn("NATS dropped heartbeats for this node: it cannot keep up", "dropped", d)
	}
}
