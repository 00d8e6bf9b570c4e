package cluster

import (
	"errors"
	"fmt"
)

// Requests given up on. Wait gives up on a request after RequestTimeout (ErrTimeout), but the
// owner may still run it: it stays pending, so that its done, if it comes, says what the
// connection holds there (Handler.LateDone). Its connection's next requests go on meanwhile, and
// the owner queues them behind it (one lane per connection, lanes.go). So an owner that does not
// finish a connection's requests (a request waiting for its group's lock, say) would see that
// connection's requests pile up, each kept at both ends — where one relay's read pump, blocked
// on that request, stops reading the client (TCP backpressure). The relay's policy for a send
// queue (§6.2: slowness is a wait longer than the write wait, which each request gets as
// -32603; bounds bound memory) applies here as bounds per connection and owner: at most
// MaxGivenUp requests, and 4 × the largest frame in bytes, given up on and not yet finished.
// Past them a request fails at once (ErrBacklog) without being sent, until dones come back.
// A request given up on is forgotten when its done comes, or its owner or the link is lost.

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
