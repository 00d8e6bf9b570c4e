package cluster

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/nats-io/nats.go"
)

// Errors of Forward. The relay answers each with -32603 (ErrNoOwner with the original's "group
// does not exist" text).
var (
	ErrLinkDown         = errors.New("this relay node is not connected to the cluster (NATS unreachable)")
	ErrNoOwner          = errors.New("no relay node of the cluster owns this group")
	ErrOwnerLost        = errors.New("the relay node that owned this group is gone")
	ErrOwnerUnreachable = errors.New("the relay node that owns this group is not reachable over NATS")
	ErrTimeout          = errors.New("the relay node that owns this group did not answer in time")
	// ErrOwnerRestarted: the owner ran the request in an incarnation of its link that has
	// ended since (it restarted it): what the request did there is void, but the group lives on.
	ErrOwnerRestarted = errors.New("the relay node that owns this group restarted its cluster link while running this request")
	// ErrTooLarge: the message is larger than the max_payload of the NATS server the node is
	// connected to now. Start checks that max_payload, but a reconnect may land on a server of
	// the NATS cluster configured with a smaller one; the link itself is fine.
	ErrTooLarge = errors.New("the message is larger than the NATS server's max_payload")
)

// Result of a forwarded request.
type Result struct {
	Responded bool // the response reached Handler.Deliver (false for notifications, or if none came)
	// Response is that response frame (nil if none came): the relay reads whether it was an
	// error when the done did not come.
	Response  []byte
	CloseConn bool // §2.5: the response was close-connection: the home node closes the connection
	Holds     int  // groups of the owner the connection belongs to after the request
	// Seq numbers the request on this node: a connection's requests to one owner are numbered
	// in the order they were begun, and the owner's dones about them come in that order.
	Seq uint64
	// Epoch is the link incarnation of the owner that ran the request (from its done).
	Epoch uint64
	// ResponseLost: the owner's response was larger than NATS's max_payload, so it did not
	// come (the home node answers in its place).
	ResponseLost bool
}

type pendingRequest struct {
	owner NodeID
	epoch uint64 // of the owner, as known when the request was begun (0: not heard from yet)
	conn  uint64
	size  int // of the request's frame
	start time.Time
	ch    chan struct{} // closed when finished
	// givenUp: Wait gave up on it, and it is kept for its done (givenup.go); counted: it also
	// counts in its connection's backlog. Guarded by the node's pmu.
	givenUp, counted bool

	mu        sync.Mutex
	finished  bool
	responded bool
	response  []byte // the frame handed to Handler.Deliver as the response
	closeConn bool   // the response that came ahead of the done was a §2.5 close-connection error
	late      bool   // Wait gave up on it (ErrTimeout): its done, if it comes, goes to Handler.LateDone
	result    Result
	err       error
}

// finish ends the request with res and err. Caller holds p.mu.
func (p *pendingRequest) finish(res Result, err error) {
	if p.finished {
		return
	}
	p.finished = true
	res.Responded = res.Responded || p.responded
	if res.Response == nil {
		res.Response = p.response
	}
	res.CloseConn = res.CloseConn || p.closeConn // even when the done did not come (§2.5)
	p.result, p.err = res, err
	close(p.ch)
}

// Forward sends frame, a request of this node's connection conn, to owner, the node of the
// group it names, and waits until owner has run it: when Forward returns, the response and every
// frame the request sent to this node's connections have been handed to Handler.Deliver, in the
// owner's order (§1.3). groups is how many groups conn belongs to on other nodes (the owner
// applies the per-connection group limit). The wait is bounded by RequestTimeout and ctx.
func (n *Node) Forward(ctx context.Context, owner NodeID, conn uint64, groups int, frame []byte) (Result, error) {
	return n.Begin(owner, conn, groups, frame).Wait(ctx)
}

// Pending is a forwarded request on its way to its owner; Wait ends it, and must be called.
// Requests one goroutine begins towards one owner reach it, and are run and answered, in the
// order they were begun: a connection may have several on their way to the same owner.
type Pending struct {
	n     *Node
	seq   uint64
	p     *pendingRequest
	start time.Time
	err   error // the request could not be sent
}

// Begin sends a request as Forward does, without waiting for it.
func (n *Node) Begin(owner NodeID, conn uint64, groups int, frame []byte) *Pending {
	pd := &Pending{n: n, start: time.Now()}
	if owner == n.id || owner == 0 {
		pd.err = ErrNoOwner
		return pd
	}
	n.mu.Lock()
	_, gone := n.tombs[owner]
	var epoch uint64
	if p := n.peers[owner]; p != nil {
		epoch = p.epoch
	}
	n.mu.Unlock()
	if gone {
		pd.err = ErrOwnerLost
		return pd
	}
	n.pmu.Lock()
	if err := n.backlogFull(conn, owner, len(frame)); err != nil {
		n.pmu.Unlock()
		pd.err = err
		return pd
	}
	pd.seq = n.seq.Add(1)
	pd.p = &pendingRequest{owner: owner, epoch: epoch, conn: conn, size: len(frame), start: pd.start, ch: make(chan struct{})}
	n.pending[pd.seq] = pd.p
	n.pmu.Unlock()
	msg := appendHead(make([]byte, 0, headLen+20+len(frame)), msgRequest, n.id, n.epoch.Load())
	msg = appendUvarint(msg, conn)
	msg = appendUvarint(msg, uint64(max(groups, 0)))
	msg = append(msg, frame...)
	if err := n.publish(n.subj.requests(owner), n.subj.reply(n.id, pd.seq), msg); err != nil {
		pd.err = err
	}
	return pd
}

// Wait waits until the owner has run the request (see Forward), at most RequestTimeout from
// Begin, or until ctx ends.
func (pd *Pending) Wait(ctx context.Context) (Result, error) {
	n := pd.n
	res, err := pd.wait(ctx)
	outcome := outcomeOK
	switch {
	case errors.Is(err, ErrLinkDown):
		outcome = outcomeLinkDown
	case errors.Is(err, ErrNoOwner):
		outcome = outcomeNoOwner
	case errors.Is(err, ErrOwnerLost), errors.Is(err, ErrOwnerRestarted):
		outcome = outcomeOwnerLost
	case errors.Is(err, ErrOwnerUnreachable):
		outcome = outcomeUnreachable
	case errors.Is(err, ErrTooLarge):
		outcome = outcomeTooLarge
	case errors.Is(err, ErrBacklog):
		outcome = outcomeBacklog
	case err != nil:
		outcome = outcomeTimeout
	}
	n.m.forwarded.WithLabelValues(outcome).Inc()
	return res, err
}

func (pd *Pending) wait(ctx context.Context) (Result, error) {
	n, p := pd.n, pd.p
	if pd.err != nil {
		if p != nil { // registered, but it could not be sent
			n.pmu.Lock()
			n.unpendLocked(pd.seq, p)
			n.pmu.Unlock()
		}
		return Result{}, pd.err
	}
	timer := time.NewTimer(max(time.Until(pd.start.Add(n.cfg.RequestTimeout)), 0))
	defer timer.Stop()
	var late error
	select {
	case <-p.ch:
	case <-timer.C:
		late = ErrTimeout
	case <-ctx.Done():
		late = ctx.Err()
	}
	// Taking p.mu waits for a response being handed over right now: after it, nothing more of
	// this request reaches the connection.
	p.mu.Lock()
	p.finish(Result{}, late)
	res, err := p.result, p.err
	res.Seq = pd.seq
	// The caller has the response now: a request kept for its done keeps no frame.
	p.response, p.result.Response = nil, nil
	// A request given up on stays pending: the owner may still run it, and its done is what
	// tells the handler whether the connection is a member there (§6.1). A loss of the owner or
	// of the link removes it (failPending).
	p.late = errors.Is(err, ErrTimeout)
	givenUp := p.late
	p.mu.Unlock()
	n.pmu.Lock()
	if givenUp {
		n.giveUpLocked(pd.seq, p) // bounded: givenup.go
	} else {
		n.unpendLocked(pd.seq, p)
	}
	n.pmu.Unlock()
	return res, err
}

// onReply handles the owner's response, done, or NATS's no-responders status for request seq.
func (n *Node) onReply(seq uint64, m *nats.Msg) {
	n.pmu.Lock()
	p := n.pending[seq]
	n.pmu.Unlock()
	if p == nil {
		n.m.lateReplies.Inc()
		return
	}
	if len(m.Data) == 0 && m.Header.Get("Status") == "503" {
		p.mu.Lock()
		p.finish(Result{}, n.noResponders(p.owner))
		p.mu.Unlock()
		return
	}
	h, body, err := readHead(m.Data)
	if err != nil {
		n.log.Warn("malformed reply", "subject", m.Subject, "err", err)
		return
	}
	// A reply is checked against its owner's incarnation like any message: a new one is
	// handled as a restart first (its earlier memberships are void), and one from an
	// incarnation already given up counts for nothing.
	if !n.admit(h) {
		n.stale(seq, p)
		return
	}
	defer n.life.RUnlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.finished {
		if p.late && h.typ == msgDone {
			n.lateDone(seq, p, body)
		}
		n.m.lateReplies.Inc()
		return
	}
	switch h.typ {
	case msgResponse, msgResponseClose:
		n.h.Deliver([]uint64{p.conn}, body)
		p.responded, p.response = true, body
		p.closeConn = h.typ == msgResponseClose
	case msgDone:
		res, resp, hasResp, err := readDone(body)
		if err != nil {
			n.log.Warn("malformed done", "from", h.from, "err", err)
			return
		}
		if n.hasBacklogs.Load() {
			n.pmu.Lock()
			n.settleEarlierLocked(seq, p)
			n.pmu.Unlock()
		}
		if hasResp {
			n.h.Deliver([]uint64{p.conn}, resp)
			p.responded, p.response = true, resp
		}
		res.Epoch = h.epoch
		p.finish(res, nil)
		n.m.forwardSeconds.Observe(time.Since(p.start).Seconds())
	}
}

// stale handles a reply to request seq from an incarnation of its owner that this node has
// given up (a restart, or declared dead): what the owner did is void, so the request fails
// now (ErrOwnerRestarted, or ErrOwnerLost if the owner is dead) if it still waits, and is
// forgotten if it was given up on.
func (n *Node) stale(seq uint64, p *pendingRequest) {
	n.m.lateReplies.Inc()
	n.mu.Lock()
	_, dead := n.tombs[p.owner]
	n.mu.Unlock()
	err := ErrOwnerRestarted
	if dead {
		err = ErrOwnerLost
	}
	n.pmu.Lock()
	n.unpendLocked(seq, p)
	n.pmu.Unlock()
	p.mu.Lock()
	p.finish(Result{}, err)
	p.mu.Unlock()
}

// readDone reads the body of a done: the result, and the response if it travels in the done.
func readDone(body []byte) (res Result, resp []byte, hasResp bool, err error) {
	if len(body) == 0 {
		return Result{}, nil, false, errShort
	}
	flags := body[0]
	holds, rest, err := readUvarint(body[1:])
	if err != nil {
		return Result{}, nil, false, err
	}
	res = Result{CloseConn: flags&doneCloseConn != 0, Holds: int(min(holds, 1<<30)), ResponseLost: flags&doneRespLost != 0}
	return res, rest, flags&doneHasResponse != 0, nil
}

// lateDone hands the handler the done of request seq, which Wait gave up on: the owner ran it
// after all. Its response, if it travels in the done, is not delivered: the caller already has
// its answer (-32603). Caller holds n.life shared and p.mu.
func (n *Node) lateDone(seq uint64, p *pendingRequest, body []byte) {
	n.pmu.Lock()
	still := n.unpendLocked(seq, p) // not removed by a loss of its owner or of the link since
	if still {
		n.settleEarlierLocked(seq, p)
	}
	n.pmu.Unlock()
	if !still {
		return
	}
	res, _, _, err := readDone(body)
	if err != nil {
		n.log.Warn("malformed done", "from", p.owner.String(), "err", err)
		return
	}
	res.Seq = seq
	n.h.LateDone(p.owner, p.conn, res)
}

// Current tells whether epoch is the incarnation of node this node deals with now: not given
// up (declared dead, left, or restarted since). What a done of that incarnation said still holds.
func (n *Node) Current(node NodeID, epoch uint64) bool {
	n.mu.Lock()
	defer n.mu.Unlock()
	p := n.peers[node]
	return p != nil && p.epoch == epoch
}

// noResponders tells why NATS found no subscriber for an owner's requests.
func (n *Node) noResponders(owner NodeID) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, ok := n.tombs[owner]; ok {
		return ErrOwnerLost
	}
	if _, ok := n.peers[owner]; ok {
		return ErrOwnerUnreachable
	}
	return ErrNoOwner
}

// failPending ends the waiting requests that match with err, and forgets those given up on
// (their owner's done can no longer tell anything: the loss voided what it would say).
func (n *Node) failPending(err error, match func(*pendingRequest) bool) {
	n.pmu.Lock()
	var hit []*pendingRequest
	for seq, p := range n.pending {
		if match(p) {
			hit = append(hit, p)
			n.unpendLocked(seq, p)
		}
	}
	n.pmu.Unlock()
	for _, p := range hit {
		p.mu.Lock()
		p.finish(Result{}, err)
		p.mu.Unlock()
	}
}
