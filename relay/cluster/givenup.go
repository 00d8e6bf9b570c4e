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
// A request given up on is forgotten when its owner or the link is lost; when its connection
// closes (ConnClosed: the owner runs that notice after the connection's requests, and the done
// could tell nothing more); and twice RequestTimeout after it was sent if its owner restarted
// since (expireGivenUp): the old life's dones are void, and may never come (a node publishes
// nothing while cut off), while the new life runs at once what reaches it.

// MaxGivenUp bounds the requests of one connection given up on at one owner: a pipelined burst
// (64 Session.messages) that times out whole fits.
const MaxGivenUp = 64

// ErrBacklog: the owner has not finished earlier requests of this connection that were given up
// on; the request was not sent.
var ErrBacklog = errors.New("the relay node that owns this group has not finished earlier requests of this connection")

type connOwner struct {
	conn  uint64
	owner NodeID
}

// backlog is what one connection has given up on at one owner.
type backlog struct{ n, bytes int }

// backlogFull tells whether a request of size bytes of conn may not be sent to owner now.
// Caller holds n.pmu.
func (n *Node) backlogFull(conn uint64, owner NodeID, size int) error {
	b := n.backlogs[connOwner{conn, owner}]
	if b == nil || b.n < MaxGivenUp && b.bytes+size <= n.givenUpBytes {
		return nil
	}
	return fmt.Errorf("%w (%d of them, %d bytes, given up on after %s and not finished there)", ErrBacklog, b.n, b.bytes, n.cfg.RequestTimeout)
}

// giveUpLocked counts request seq (p), which Wait gave up on, in its connection's backlog, if it
// is still pending. Caller holds n.pmu.
func (n *Node) giveUpLocked(seq uint64, p *pendingRequest) {
	if n.pending[seq] != p {
		return // its done came, or its owner was lost, meanwhile
	}
	p.counted = true
	k := connOwner{p.conn, p.owner}
	b := n.backlogs[k]
	if b == nil {
		b = &backlog{}
		n.backlogs[k] = b
	}
	b.n++
	b.bytes += p.size
	n.m.givenUp.Inc()
}

// unpendLocked removes request seq (p) from the pending requests, and from its connection's
// backlog if it was given up on; it reports whether it was pending. Caller holds n.pmu.
func (n *Node) unpendLocked(seq uint64, p *pendingRequest) bool {
	if n.pending[seq] != p {
		return false
	}
	delete(n.pending, seq)
	if p.counted {
		k := connOwner{p.conn, p.owner}
		if b := n.backlogs[k]; b != nil {
			if b.n--; b.n == 0 {
				delete(n.backlogs, k)
			} else {
				b.bytes -= p.size
			}
		}
		n.m.givenUp.Dec()
	}
	return true
}

// expireGivenUp forgets the requests given up on whose owner restarted since they were sent,
// twice RequestTimeout after that (see above). It runs with the heartbeats.
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
	for seq, p := range n.pending {
		if cur, ok := epochs[p.owner]; ok && p.counted && p.epoch != 0 && cur != p.epoch && now.Sub(p.start) > 2*n.cfg.RequestTimeout {
			n.unpendLocked(seq, p)
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
		if p.counted && p.conn == conn && p.owner == owner {
			n.unpendLocked(seq, p)
		}
	}
}
