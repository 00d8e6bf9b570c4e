package cluster

import (
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/nats-io/nats.go"
)

// Handler is what a node does with what other nodes send it: the relay implements it. The node
// calls Execute and ConnClosed on one lane per connection of another node (lanes.go): one
// connection's requests, and then the notice that it closed, one at a time in arrival order
// (§1.3: a connection's requests run in order), different connections' at the same time.
// Deliver runs on the node's delivery subscription, one call at a time in arrival order (so
// frames from one owner keep their order). NodeLost and LinkLost run alone, after every call
// that came before them has returned.
type Handler interface {
	// Execute runs a request of a connection of another node on this node, the owner of the
	// group it names: the response goes through r.Respond, events through Node.Deliver (after
	// Flush of the held response of any receiver that has a request running), during the call.
	Execute(r *Request)
	// Deliver hands frame to the local connections conns, in this order, without blocking.
	Deliver(conns []uint64, frame []byte)
	// ConnClosed says that connection conn of node from has closed: it leaves this node's
	// groups (§6.1).
	ConnClosed(from NodeID, conn uint64)
	// NodeLost says that node is gone (dead, restarted its link, or left): its connections leave
	// this node's groups (§6.1), and this node's connections in its groups lose them.
	NodeLost(node NodeID, reason string)
	// LinkLost says that this node lost the cluster (NATS down, or declared dead by another
	// node): every cross-node membership is void, in both directions.
	LinkLost(reason string)
	// Missed says that a frame of another node for the local connections conns could not
	// cross NATS (larger than its max_payload): they will never get it. Called like Deliver,
	// in the frame's place.
	Missed(conns []uint64, reason string)
	// LateDone hands over the done of a request of this node's connection conn that Wait gave
	// up on (ErrTimeout): owner ran it after all, and res (with res.Seq, the request's number)
	// says how many groups of owner conn belongs to now (§6.1). It runs like Deliver, after
	// everything owner sent before it, and never after a loss of owner or of the link that came
	// after the request was given up on.
	LateDone(owner NodeID, conn uint64, res Result)
}

// Reasons a node is given up (metric label values).
const (
	lostDead      = "dead"
	lostRestarted = "restarted"
	lostLeft      = "left"
)

// Node is one relay process's link to its cluster over NATS.
type Node struct {
	cfg  Config
	id   NodeID
	subj subjects
	log  *slog.Logger
	m    *metrics
	h    Handler
	nc   *nats.Conn

	// life orders the handler's calls: message handling holds it shared, changes of membership
	// (a node lost, the link lost) hold it alone.
	life  sync.RWMutex
	epoch atomic.Uint64 // this node's link incarnation, renewed when the link is lost

	mu    sync.Mutex
	peers map[NodeID]*peer
	tombs map[NodeID]tomb // nodes declared dead, by epoch

	seq          atomic.Uint64
	pmu          sync.Mutex
	pending      map[uint64]*pendingRequest
	backlogs     map[connOwner]*backlog // requests given up on, by connection and owner (givenup.go)
	hasBacklogs  atomic.Bool            // len(backlogs) > 0, read without pmu by every done
	givenUpBytes int                    // bound of a backlog's bytes

	lmu   sync.Mutex
	lanes map[laneKey]*lane // connections of other nodes with requests queued or running here

	reqDrops, delDrops, hbDrops dropWatch // messages NATS dropped on each subscription (drops.go)

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type peer struct {
	epoch    uint64
	seen     time.Time
	protocol uint64 // of its last heartbeat (0: none heard yet)
}

// New makes a node with a fresh id. Start connects it.
func New(cfg Config) (*Node, error) {
	cfg, err := cfg.normalize()
	if err != nil {
		return nil, fmt.Errorf("cluster config: %w", err)
	}
	n := &Node{
		cfg:      cfg,
		id:       newNodeID(),
		subj:     subjects{prefix: cfg.prefix()},
		m:        newMetrics(cfg.Registerer),
		peers:    map[NodeID]*peer{},
		tombs:    map[NodeID]tomb{},
		pending:  map[uint64]*pendingRequest{},
		backlogs: map[connOwner]*backlog{},
		// 4 frames of the largest size, as a connection's send queue (§6.2); 4 MiB if unset.
		givenUpBytes: 4 * int(max(cfg.MaxFrameBytes, 1<<20)),
		lanes:        map[laneKey]*lane{},
		stop:         make(chan struct{}),
		done:         make(chan struct{}),
	}
	n.log = cfg.Logger.With("node", n.id.String(), "cluster", cfg.Name)
	n.epoch.Store(uint64(time.Now().UnixNano()))
	return n, nil
}

// ID is this node's id, the first four bytes of the groups it creates.
func (n *Node) ID() NodeID { return n.id }

// Start connects to NATS, subscribes and starts the heartbeats. It fails when NATS cannot be
// reached now, or when its max_payload cannot carry the relay's largest frame; once started,
// the node reconnects by itself for as long as it runs.
func (n *Node) Start(h Handler) error {
	n.h = h
	opts := []nats.Option{
		nats.Name("mpcrelay " + n.cfg.Name + " node " + n.id.String()),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.ReconnectJitter(100*time.Millisecond, time.Second),
		// Nothing is buffered while disconnected: a request that cannot go now fails now (and
		// the caller gets -32603), instead of running minutes later on a state it no longer knows.
		nats.ReconnectBufSize(-1),
		// The client's pings find a half-open link within about DeadAfter.
		nats.PingInterval(max(n.cfg.DeadAfter/2, 100*time.Millisecond)),
		nats.MaxPingsOutstanding(2),
		nats.Timeout(5 * time.Second),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) { n.onDisconnect(err) }),
		nats.ReconnectHandler(func(nc *nats.Conn) {
			n.m.linkUp.Set(1)
			n.log.Info("NATS reconnected", "url", nc.ConnectedUrlRedacted(), "epoch", n.epoch.Load())
			n.heartbeat()
		}),
		nats.ErrorHandler(func(_ *nats.Conn, sub *nats.Subscription, err error) { n.onAsyncError(sub, err) }),
	}
	if n.cfg.CredsFile != "" {
		opts = append(opts, nats.UserCredentials(n.cfg.CredsFile))
	}
	if n.cfg.TLSCAFile != "" {
		opts = append(opts, nats.RootCAs(n.cfg.TLSCAFile))
	}
	if n.cfg.TLSCertFile != "" {
		opts = append(opts, nats.ClientCert(n.cfg.TLSCertFile, n.cfg.TLSKeyFile))
	}
	nc, err := nats.Connect(n.cfg.URL, opts...)
	if err != nil {
		return fmt.Errorf("connect to NATS at %s: %w", n.cfg.URL, err)
	}
	if need := n.cfg.MaxFrameBytes + envelopeRoom; n.cfg.MaxFrameBytes > 0 && nc.MaxPayload() < need {
		nc.Close()
		return fmt.Errorf("NATS at %s carries messages up to %d bytes (max_payload), but the relay forwards frames up to %d bytes: "+
			"set max_payload to at least %d in the NATS server's configuration, or lower --max-frame-bytes", n.cfg.URL, nc.MaxPayload(), n.cfg.MaxFrameBytes, need)
	}
	n.nc = nc
	subs := []struct {
		subject string
		handle  nats.MsgHandler
		drops   *dropWatch
	}{
		{n.subj.requests(n.id), n.onRequestMsg, &n.reqDrops},
		{n.subj.deliveries(n.id), n.onDeliveryMsg, &n.delDrops},
		{n.subj.heartbeats(), n.onHeartbeatMsg, &n.hbDrops},
	}
	for _, s := range subs {
		sub, err := nc.Subscribe(s.subject, s.handle)
		if err == nil {
			// Bounded: what a node that cannot keep up drops past it ends its link (drops.go).
			err = sub.SetPendingLimits(pendingMsgs, n.cfg.pendingBytes())
			s.drops.sub.Store(sub)
		}
		if err != nil {
			nc.Close()
			return fmt.Errorf("subscribe to %s: %w", s.subject, err)
		}
	}
	if err := nc.Flush(); err != nil {
		nc.Close()
		return fmt.Errorf("NATS at %s: %w", n.cfg.URL, err)
	}
	n.m.linkUp.Set(1)
	n.log.Info("joined the cluster over NATS", "url", nc.ConnectedUrlRedacted(), "max_payload", nc.MaxPayload())
	go n.heartbeatLoop()
	return nil
}

// Connected reports whether the NATS link is up.
func (n *Node) Connected() bool { return n.nc != nil && n.nc.IsConnected() }

// Status describes the link for /healthz.
type Status struct {
	Connected bool
	URL       string   // the NATS server connected to (credentials redacted)
	Peers     []NodeID // other nodes heard from within DeadAfter
}

// Status reports the link and the live peers.
func (n *Node) Status() Status {
	st := Status{Connected: n.Connected()}
	if n.nc != nil {
		st.URL = n.nc.ConnectedUrlRedacted()
	}
	n.mu.Lock()
	for id := range n.peers {
		st.Peers = append(st.Peers, id)
	}
	n.mu.Unlock()
	return st
}

// Close says goodbye to the other nodes (they drop this node's connections at once instead of
// after DeadAfter), flushes and closes the NATS link, fails requests still waiting, and waits
// for the requests of other nodes' connections that were running or queued here.
func (n *Node) Close() {
	n.closeOnce.Do(func() {
		close(n.stop)
		if n.nc == nil {
			return
		}
		<-n.done
		if n.nc.IsConnected() {
			_ = n.nc.Publish(n.subj.heartbeats(), appendHead(nil, msgHeartbeat, n.id, n.epoch.Load())) // period 0: leaving
			_ = n.nc.FlushTimeout(time.Second)
		}
		n.nc.Close()
		n.m.linkUp.Set(0)
		n.failPending(ErrLinkDown, func(*pendingRequest) bool { return true })
		n.life.Lock() // every admitted message has been handled (lanes.go)
		n.life.Unlock()
	})
}

// onDisconnect: every message this node missed may have been an event for one of its
// connections or a request for one of its groups, so the link's incarnation ends here.
func (n *Node) onDisconnect(err error) {
	select {
	case <-n.stop:
		return // closing
	default:
	}
	n.m.linkUp.Set(0)
	reason := "NATS connection lost"
	if err != nil {
		reason += ": " + err.Error()
	}
	n.relink(reason)
}

func (n *Node) onAsyncError(sub *nats.Subscription, err error) {
	if errors.Is(err, nats.ErrSlowConsumer) { // messages were dropped (drops.go)
		switch sub {
		case n.reqDrops.sub.Load():
			n.checkDrops(&n.reqDrops, "requests")
		case n.delDrops.sub.Load():
			n.checkDrops(&n.delDrops, "deliveries")
		case n.hbDrops.sub.Load():
			n.heartbeatsDropped()
		}
		return
	}
	subject := ""
	if sub != nil {
		subject = sub.Subject
	}
	n.log.Error("NATS error", "subject", subject, "err", err)
}

// relink ends this link's incarnation: a new epoch, no peers, every waiting request failed, and
// the handler drops every cross-node membership. Other nodes see the new epoch (or miss the
// heartbeats) and do the same on their side.
func (n *Node) relink(reason string) { n.relinkIf(nil, reason) }

// relinkIf relinks if cond (nil: always) still holds once every message before has been
// handled; it reports whether it did.
func (n *Node) relinkIf(cond func() bool, reason string) bool {
	n.life.Lock()
	defer n.life.Unlock()
	if cond != nil && !cond() {
		return false
	}
	// What was dropped so far is voided with the memberships it concerned. Counted before the
	// new epoch is used: a message dropped from now on may be of the new incarnation.
	n.reqDrops.count(n.m)
	n.delDrops.count(n.m)
	n.epoch.Store(max(n.epoch.Load()+1, uint64(time.Now().UnixNano())))
	n.mu.Lock()
	clear(n.peers)
	n.m.peers.Set(0)
	n.mu.Unlock()
	n.failPending(ErrLinkDown, func(*pendingRequest) bool { return true })
	n.m.linkLost.Inc()
	n.log.Warn("cluster link lost: cross-node groups and memberships dropped", "reason", reason)
	n.h.LinkLost(reason)
	return true
}

// publish sends one message; a failure means the link is down, or the message is too large
// for the NATS server connected to now (ErrTooLarge).
func (n *Node) publish(subject, reply string, data []byte) error {
	if !n.nc.IsConnected() {
		return ErrLinkDown
	}
	var err error
	if reply == "" {
		err = n.nc.Publish(subject, data)
	} else {
		err = n.nc.PublishRequest(subject, reply, data)
	}
	if errors.Is(err, nats.ErrMaxPayload) {
		return n.tooLarge(len(data))
	}
	if err != nil {
		return fmt.Errorf("%w: %v", ErrLinkDown, err)
	}
	return nil
}

// tooLarge is the error of a message of size bytes that the NATS server connected to now does
// not take.
func (n *Node) tooLarge(size int) error {
	need := ""
	if n.cfg.MaxFrameBytes > 0 {
		need = fmt.Sprintf("; every NATS server of the cluster needs max_payload %d or more", n.cfg.MaxFrameBytes+envelopeRoom)
	}
	return fmt.Errorf("%w (%d bytes; NATS at %s takes at most %d%s)", ErrTooLarge, size, n.nc.ConnectedUrlRedacted(), n.nc.MaxPayload(), need)
}

// Deliver publishes frame for the connections conns of node, in one message. Frames one
// goroutine delivers to one node arrive in the order it delivered them.
//
// A message larger than the NATS server's max_payload is split between the receivers (each
// still gets the frame once, in its place). A frame that does not fit even for one receiver
// cannot reach them: node is told, in the frame's place, that they missed it (Handler.Missed:
// the relay closes them, §6.1, rather than keep members that silently miss an event), and the
// error is ErrTooLarge.
func (n *Node) Deliver(node NodeID, conns []uint64, frame []byte) error {
	limit := int(n.nc.MaxPayload())
	for len(conns) > 0 {
		k := len(conns)
		if headLen+binary.MaxVarintLen64*(k+1)+len(frame) > limit { // the usual case needs no count
			k = 0
			for size := headLen + binary.MaxVarintLen64 + len(frame); k < len(conns); k++ {
				if size += uvarintLen(conns[k]); size > limit {
					break
				}
			}
		}
		err := ErrTooLarge
		if k > 0 {
			msg := appendHead(make([]byte, 0, eventsSize(conns[:k], len(frame))), msgEvents, n.id, n.epoch.Load())
			msg = appendEvents(msg, conns[:k], frame)
			if err = n.publish(n.subj.events(node), "", msg); err == nil {
				n.m.eventMsgsOut.Inc()
				n.m.eventBytesOut.Add(float64(len(msg)))
				conns = conns[k:]
				continue
			}
		}
		if errors.Is(err, ErrTooLarge) {
			n.missed(node, conns, len(frame), limit)
			return n.tooLarge(eventsSize(conns[:1], len(frame)))
		}
		return err // the link is down: its loss ends these memberships
	}
	return nil
}

// missed tells node that a frame of size bytes for its connections conns did not fit NATS's
// max_payload (limit): a notice in the frame's place, split to fit.
func (n *Node) missed(node NodeID, conns []uint64, size, limit int) {
	n.m.framesMissed.Add(float64(len(conns)))
	per := max((limit-headLen-4*binary.MaxVarintLen64)/binary.MaxVarintLen64, 1)
	for len(conns) > 0 {
		part := conns[:min(per, len(conns))]
		conns = conns[len(part):]
		msg := appendHead(nil, msgMissed, n.id, n.epoch.Load())
		msg = appendUvarint(msg, uint64(size))
		msg = appendUvarint(msg, uint64(limit))
		msg = appendEvents(msg, part, nil)
		if err := n.publish(n.subj.events(node), "", msg); err != nil {
			n.log.Warn("notice of a missed frame not sent", "peer", node.String(), "err", err)
			return
		}
	}
}

// ConnClosed tells owner that this node's connection conn closed (§6.1 on owner's groups). The
// owner runs the notice after the connection's requests: those given up on are forgotten.
func (n *Node) ConnClosed(owner NodeID, conn uint64) error {
	n.forgetGivenUp(owner, conn)
	msg := appendHead(nil, msgClosed, n.id, n.epoch.Load())
	msg = appendUvarint(msg, conn)
	return n.publish(n.subj.requests(owner), "", msg)
}

func (n *Node) onDeliveryMsg(m *nats.Msg) {
	n.checkDrops(&n.delDrops, "deliveries") // nothing after a gap counts in the life that lost it
	if seq, ok := replySeq(m.Subject); ok {
		n.onReply(seq, m)
		return
	}
	h, body, err := readHead(m.Data)
	if err != nil || h.typ != msgEvents && h.typ != msgMissed {
		n.log.Warn("malformed cluster message", "subject", m.Subject, "err", err)
		return
	}
	if !n.admit(h) {
		return
	}
	defer n.life.RUnlock()
	if h.typ == msgMissed {
		n.onMissed(h, body)
		return
	}
	conns, frame, err := readEvents(body)
	if err != nil {
		n.log.Warn("malformed events message", "from", h.from, "err", err)
		return
	}
	n.m.eventMsgsIn.Inc()
	n.m.eventFramesIn.Add(float64(len(conns)))
	n.h.Deliver(conns, frame)
}

// onMissed: a frame of another node for these connections did not fit NATS's max_payload.
func (n *Node) onMissed(h head, body []byte) {
	size, body, err := readUvarint(body)
	var limit uint64
	if err == nil {
		limit, body, err = readUvarint(body)
	}
	var conns []uint64
	if err == nil {
		conns, _, err = readEvents(body)
	}
	if err != nil {
		n.log.Warn("malformed missed message", "from", h.from, "err", err)
		return
	}
	n.h.Missed(conns, fmt.Sprintf("a frame for it (%d bytes) exceeds the cluster's NATS max_payload (%d)", size, limit))
}

func (n *Node) onRequestMsg(m *nats.Msg) {
	n.checkDrops(&n.reqDrops, "requests") // nothing after a gap counts in the life that lost it
	h, body, err := readHead(m.Data)
	if err != nil {
		n.log.Warn("malformed cluster message", "subject", m.Subject, "err", err)
		return
	}
	if h.typ == msgReset {
		n.onReset(h, body)
		return
	}
	if !n.admit(h) {
		return
	}
	// Admitted: n.life is held shared until the message is handled, by the connection's lane.
	switch h.typ {
	case msgRequest:
		n.serve(h, body, m.Reply)
	case msgClosed:
		conn, _, err := readUvarint(body)
		if err != nil {
			n.life.RUnlock()
			n.log.Warn("malformed closed message", "from", h.from, "err", err)
			return
		}
		n.enqueue(laneKey{h.from, conn}, laneItem{}) // after the connection's requests before it
	default:
		n.life.RUnlock()
		n.log.Warn("unexpected cluster message", "type", h.typ, "from", h.from)
	}
}
