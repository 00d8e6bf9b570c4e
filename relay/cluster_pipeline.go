package relay

import (
	"bytes"
	"context"
	"encoding/json"
	"sync"

	"github.com/google/uuid"

	"mpcrelay/relay/cluster"
	"mpcrelay/relay/protocol"
)

// Pipelining of Session.message across nodes. A party's rounds are bursts of Session.message
// requests on one group; waiting for each one's done would cap a party on another node than
// its group's owner at one message per round trip. So a Session.message whose owner is the owner
// of the connection's requests still on their way goes out at once: the transport delivers one
// node's requests to an owner in the order they were sent, the owner runs them in that order,
// and its responses and events come back in that order (§1.3 holds). Anything else — another
// owner, a local request, an invalid frame, another method (Group.join may close the
// connection, §2.5) — first waits for all of them (drain), answering in order any that failed.

// maxPipelined bounds the requests of one connection on their way; their bytes are bounded
// as a send queue's are (§6.2): 4 frames of the largest size (queueBytesPerFrameLimit).
const maxPipelined = 64

// pipe holds a connection's requests on their way, oldest first. While it is not empty a
// goroutine (drainer) waits for them in order and answers the ones that failed, at once:
// -32603 within the write wait, as for any forwarded request.
type pipe struct {
	mu       sync.Mutex
	changed  sync.Cond      // signalled when the drainer removes a request
	owner    cluster.NodeID // of every request in queue
	queue    []pipelined
	bytes    int64 // of the requests in queue
	draining bool
}

type pipelined struct {
	pd   *cluster.Pending
	id   json.RawMessage // the request's id, copied (the frame's buffer is reused); nil: a notification
	gid  uuid.UUID
	size int64
}

// pipeline sends x without waiting when it may (see above); it reports whether it did.
// Otherwise it has waited for c's requests on their way.
func (l *clusterLink) pipeline(x *call, gid uuid.UUID, owner cluster.NodeID, frame []byte) bool {
	c := x.c
	l.mu.Lock()
	p := l.pipes[c]
	if p == nil {
		p = &pipe{}
		p.changed.L = &p.mu
		l.pipes[c] = p
	}
	l.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if x.req.Method != protocol.MethodSessionMessage || len(p.queue) > 0 && p.owner != owner {
		p.waitBelow(1)
		return false
	}
	p.waitBelow(maxPipelined)
	for len(p.queue) > 0 && p.bytes+int64(len(frame)) > queueBytesPerFrameLimit*l.s.cfg.MaxFrameBytes {
		p.changed.Wait()
	}
	var id json.RawMessage
	if x.req.ID != nil {
		id = bytes.Clone(x.req.ID)
	}
	p.owner = owner
	p.queue = append(p.queue, pipelined{pd: l.node.Begin(owner, c.id, 0, frame), id: id, gid: gid, size: int64(len(frame))})
	p.bytes += int64(len(frame))
	if !p.draining {
		p.draining = true
		go l.drainer(c, p)
	}
	x.answered = true // by the owner, or by the drainer
	return true
}

// waitBelow waits until fewer than n requests are on their way. Caller holds p.mu.
func (p *pipe) waitBelow(n int) {
	for len(p.queue) >= n {
		p.changed.Wait()
	}
}

// drainer waits for c's requests in order; one that failed without a response is answered
// now, as x.fail would have (its successors to the same owner fail the same way).
func (l *clusterLink) drainer(c *conn, p *pipe) {
	p.mu.Lock()
	for len(p.queue) > 0 {
		q, owner := p.queue[0], p.owner
		p.mu.Unlock()
		res, err := q.pd.Wait(context.Background())
		if err != nil && !res.Responded {
			x := &call{s: l.s, c: c}
			x.req.ID = q.id
			x.fail(forwardError(q.gid, owner, err, l.s.cfg.WriteWait.String()))
		}
		p.mu.Lock()
		p.bytes -= q.size
		p.queue[0] = pipelined{}
		p.queue = p.queue[1:]
		p.changed.Broadcast()
	}
	p.draining = false
	p.mu.Unlock()
}

// drain waits until c has no request on its way (a local request, an invalid frame, closing).
func (l *clusterLink) drain(c *conn) {
	l.mu.Lock()
	p := l.pipes[c]
	l.mu.Unlock()
	if p == nil {
		return
	}
	p.mu.Lock()
	p.waitBelow(1)
	p.mu.Unlock()
}

// drainAll drains every connection (Shutdown, once no connection runs requests any more).
func (l *clusterLink) drainAll() {
	l.mu.Lock()
	conns := make([]*conn, 0, len(l.pipes))
	for c := range l.pipes {
		conns = append(conns, c)
	}
	l.mu.Unlock()
	for _, c := range conns {
		l.drain(c)
	}
}
