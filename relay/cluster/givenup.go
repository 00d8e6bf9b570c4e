package cluster

import (
	"errors"
	"fmt"
	"time"
)

// Requests given up on. Wait gives up on a request after RequestTimeout (ErrTimeout), but the
// owner may still run it: it stays pending, so that its done, if it comes, says what the
// connection holds there (Handler.LateDone). Its connection's next requests go on meanwhile, and
// the owner queues them behind it (one lane per connection, lanes.go). So an owner that does not
// finish a connection's requests (a request waiting for its group's lock, say) would see that
// connection's requests pile up, each kept at both ends — where one relay's read pump, blocked
// on that request, stops reading the client (TCP backpressure). The relay's policy for a send
// queue (§6.2: slowness is a wait longer than the write wait, which each request gets as
// -32603; bounds bound memory) applies here as bounds per connection and owner: a request is
// not sent while MaxGivenUp requests, or 4 × the largest frame in bytes, given up on are not yet
// finished; it fails at once (ErrBacklog), until dones come back. With the relay's bounds on
// requests on their way (64, and 4 frames' bytes: cluster_pipeline.go), an owner holds at most
// 128 requests and 8 largest frames' bytes of one connection.
//
// A request given up on is forgotten when its done comes, when a done of a later request of its
// connection comes from its owner (the owner runs a connection's requests in the order they
// were sent, and its dones come in that order: this one's was lost by NATS, or the request
// was, and will never come; the later done says what the connection holds there), when its
// owner or the link is lost, or when its connection closes (ConnClosed: the owner runs that
// notice after the connection's requests, and the done could tell nothing more; the relay
// tells every owner that holds one, AwaitingDones).
//
// It stops counting in the backlog (expireGivenUp), but is still kept for its done:
//   - twice RequestTimeout after it was sent if its owner restarted since, or was not heard
//     from when it was sent (its life unknown; the first heartbeat heard may be of a later
//     one): the old life's dones are void and may never come (a node publishes nothing while
//     cut off), so they must not block the connection. The home node may have sent it before
//     it heard of the restart, and then the new life runs it, and its done, however late,
//     says what the connection holds there (§6.1);
//   - lostDonesAfter RequestTimeouts after it was sent in any case: NATS may have lost its done
//     (at most once delivery) with no restart, and a connection whose backlog is full sends
//     nothing that could bring a later done. A slow owner gets no more than MaxGivenUp more
//     requests of one connection per that time.

// MaxGivenUp bounds the requests of one connection given up on at one owner: a pipelined burst
// (64 Session.messages) that times out whole fits.
const MaxGivenUp = 64

// lostDonesAfter is how many RequestTimeouts after it was sent a request given up on stops
// counting in its backlog whatever its owner did: long enough for an owner slow to catch up,
// short enough that a connection whose dones NATS lost is refused for a bounded time.
const lostDonesAfter = 10

// ErrBacklog: the owner has not finished earlier requests of this connection that were given up
// on; the request was not sent.
var ErrBacklog = errors.New("the relay node that owns this group has not finished earlier requests of this connection")

type connOwner struct {
	conn  uint64
	owner NodeID
}

// backlog is what one connection has given up on at one owner: n and bytes of the requests
// that count against the bounds, kept of every one still awaiting its done.
type backlog struct{ n, bytes, kept int }

// backlogFull tells whether a request of size bytes of conn may not be sent to owner now.
// Caller holds n.pmu.
func (n *Node) backlogFull(conn uint64, owner NodeID, size int) error {
	b := n.backlogs[connOwner{conn, owner}]
	if b == nil || b.n < MaxGivenUp && b.bytes+size <= n.givenUpBytes {
		return nil
	}
	return fmt.Errorf("%w (%d of them, %d bytes, given up on after %s and not finished there)", ErrBacklog, b.n, b.bytes, n.cfg.RequestTimeout)
}

// giveUpLocked keeps request seq (p), which Wait gave up on, for its done, counted in its
// connection's backlog, if it is still pending. Caller holds n.pmu.
func (n *Node) giveUpLocked(seq uint64, p *pendingRequest) {
	if n.pending[seq] != p {
		return // its done came, or its owner was lost, meanwhile
	}
	p.givenUp, p.counted = true, true
	k := connOwner{p.conn, p.owner}
	b := n.backlogs[k]
	if b == nil {
		b = &backlog{}
		n.backlogs[k] = b
		n.hasBacklogs.Store(true)
	}
	b.n++
	b.bytes += p.size
	b.kept++
	n.m.givenUp.Inc()
}

// unpendLocked removes request seq (p) from the pending requests, and from its connection's
// backlog if it was given up on; it reports whether it was pending. Caller holds n.pmu.
func (n *Node) unpendLocked(seq uint64, p *pendingRequest) bool {
	if n.pending[seq] != p {
		return false
	}
	delete(n.pending, seq)
	if p.givenUp {
		k := connOwner{p.conn, p.owner}
		if b := n.backlogs[k]; b != nil {
			uncount(b, p)
			if b.kept--; b.kept == 0 {
				delete(n.backlogs, k)
				n.hasBacklogs.Store(len(n.backlogs) > 0)
			}
		}
		n.m.givenUp.Dec()
	}
	return true
}

// uncount takes p out of the bounds of its backlog b. Caller holds n.pmu.
func uncount(b *backlog, p *pendingRequest) {
	if p.counted {
		p.counted = false
		b.n--
		b.bytes -= p.size
	}
}

// settleEarlierLocked forgets the requests of p's connection given up on at p's owner that
// were sent before request seq, whose done came (see above). Caller holds n.pmu.
func (n *Node) settleEarlierLocked(seq uint64, p *pendingRequest) {
	if n.backlogs[connOwner{p.conn, p.owner}] == nil {
		return
	}
	for s, q := range n.pending {
		if s < seq && q.givenUp && q.conn == p.conn && q.owner == p.owner {
			n.unpendLocked(s, q)
		}
	}
}

// expireGivenUp stops counting the requests given up on that have waited long enough for their
// done (see above). It runs with the heartbeats.
func (n *Node) expireGivenUp(now time.Time) {
	n.pmu.Lock()
	some := len(n.backlogs) > 0
	n.pmu.Unlock()
	if !some {
		return
	}
	epochs := map[NodeID]uint64{}
	n.mu.Lock()
	for id, p := range n.peers {
		epochs[id] = p.epoch
	}
	n.mu.Unlock()
	n.pmu.Lock()
	defer n.pmu.Unlock()
	for _, p := range n.pending {
		if !p.counted {
			continue
		}
		bound := lostDonesAfter * n.cfg.RequestTimeout
		if cur, ok := epochs[p.owner]; ok && (p.epoch == 0 || cur != p.epoch) {
			bound = 2 * n.cfg.RequestTimeout // an ended (or unknown) life of the owner
		}
		if now.Sub(p.start) > bound {
			uncount(n.backlogs[connOwner{p.conn, p.owner}], p)
		}
	}
}

// forgetGivenUp forgets the requests of conn given up on at owner (its connection closed).
func (n *Node) forgetGivenUp(owner NodeID, conn uint64) {
	n.pmu.Lock()
	defer n.pmu.Unlock()
	if n.backlogs[connOwner{conn, owner}] == nil {
		return
	}
	for seq, p := range n.pending {
		if p.givenUp && p.conn == conn && p.owner == owner {
			n.unpendLocked(seq, p)
		}
	}
}

// AwaitingDones lists the owners that have requests of conn given up on whose dones have not
// come: when conn closes, each must be told (ConnClosed), even one the relay books nothing of
// (a request sent before the home node heard of its owner's restart runs in the new life).
func (n *Node) AwaitingDones(conn uint64) []NodeID {
	n.pmu.Lock()
	defer n.pmu.Unlock()
	var owners []NodeID
	for k := range n.backlogs {
		if k.conn == conn {
			owners = append(owners, k.owner)
		}
	}
	return owners
}
