package replay

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"mpcrelay/client"
	"mpcrelay/relay/protocol"
)

const writeWait = 10 * time.Second // one frame write; loopback writes take microseconds

// peer is one replayed party's connection. Its reader goroutine is the only one that touches
// latency and perSecond until stop returns.
type peer struct {
	g     *group
	index int

	c  *client.Client  // relay target
	ws *websocket.Conn // forwarder target

	wmu      sync.Mutex
	ids      atomic.Uint64
	stopping atomic.Bool
	sub      *client.Subscription
	readers  sync.WaitGroup
	ended    chan struct{} // closed when the connection ended

	latency   []time.Duration
	perSecond []int64
}

func (pc *peer) nextID() uint64 {
	if pc.c != nil {
		return pc.c.NextID()
	}
	return pc.ids.Add(1)
}

func (pc *peer) send(ctx context.Context, frame []byte) error {
	if pc.c != nil {
		return pc.c.Send(ctx, frame)
	}
	pc.wmu.Lock()
	defer pc.wmu.Unlock()
	_ = pc.ws.SetWriteDeadline(time.Now().Add(writeWait))
	return pc.ws.WriteMessage(websocket.TextMessage, frame)
}

func (pc *peer) closed() bool {
	select {
	case <-pc.ended:
		return true
	default:
		return false
	}
}

// observe records one delivery's latency and the second of the run it arrived in.
func (pc *peer) observe(lat, at time.Duration) {
	pc.latency = append(pc.latency, lat)
	sec := int(at / time.Second)
	for len(pc.perSecond) <= sec {
		pc.perSecond = append(pc.perSecond, 0)
	}
	pc.perSecond[sec]++
}

// stop closes the connection and waits for its reader.
func (pc *peer) stop() {
	if pc.stopping.Swap(true) {
		pc.readers.Wait()
		return
	}
	if pc.c != nil {
		pc.sub.Close()
		_ = pc.c.Close()
	} else if pc.ws != nil {
		pc.wmu.Lock()
		_ = pc.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(time.Second))
		pc.wmu.Unlock()
		_ = pc.ws.Close()
	}
	pc.readers.Wait()
}

// receive routes one Session.message to the run it belongs to.
func (pc *peer) receive(msg protocol.Message, at time.Time, forwarder bool) {
	e := pc.g.e
	r := pc.g.lookup(msg.UUID)
	if r == nil {
		e.misdelivered.Add(1) // a session this group never ran (or closed long ago)
		return
	}

	r.deliver(pc, msg, at, forwarder)
}

func jsonEqual(a, b []byte) bool {
	if bytes.Equal(a, b) {
		return true
	}
	var ca, cb bytes.Buffer
	return json.Compact(&ca, a) == nil && json.Compact(&cb, b) == nil && bytes.Equal(ca.Bytes(), cb.Bytes())
}

// connect dials the group's connections and, against a relay, creates and joins the group (§4.1, §4.2).
func (g *group) connect(ctx context.Context, sem chan struct{}) error {
	n := int(g.plan.params.Parties)
	forwarder := g.e.cfg.Target == TargetForwarder
	g.id = uuid.New()
	for i := range n {
		pc := &peer{g: g, index: i, ended: make(chan struct{})}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return ctx.Err()
		}
		var err error
		if forwarder {
			err = pc.dialForwarder(ctx, g.id)
		} else {
			err = pc.dialRelay(ctx)
		}
		<-sem
		if err != nil {
			return err
		}
		g.peers = append(g.peers, pc)
	}
	if !forwarder {
		id, err := g.peers[0].c.GroupCreate(ctx, fmt.Sprintf("replay-%d", g.index), g.plan.params)
		if err != nil {
			return fmt.Errorf("Group.create: %w", err)
		}
		g.id = id
		for _, pc := range g.peers[1:] {
			if _, err := pc.c.GroupJoin(ctx, id); err != nil {
				return fmt.Errorf("Group.join: %w", err)
			}
		}
	}
	g.ready = true
	return nil
}

func (g *group) close() {
	for _, pc := range g.peers {
		pc.stop()
	}
}

func (pc *peer) dialRelay(ctx context.Context) error {
	c, err := client.Dial(ctx, pc.g.e.cfg.URL)
	if err != nil {
		close(pc.ended)
		return err
	}
	pc.c = c
	pc.sub = c.Subscribe(client.Filter{Names: []string{protocol.EventSessionMessage}})
	pc.readers.Add(2)
	go func() {
		defer pc.readers.Done()
		for ev := range pc.sub.C() {
			msg, err := ev.AsMessage()
			if err != nil {
				pc.g.e.corrupt.Add(1)
				continue
			}
			pc.receive(msg, ev.At, false)
		}
	}()
	go func() {
		defer pc.readers.Done()
		defer close(pc.ended)
		// Answers to the Session.message frames sent with Send, and anything unexpected.
		for f := range c.Unmatched() {
			in, err := protocol.DecodeIncoming(f.Data)
			if err == nil && in.Error != nil {
				pc.g.e.relayError(in.Error.Error())
			}
		}
		if !pc.stopping.Load() {
			pc.g.e.disconnects.Add(1)
			pc.g.e.fail(fmt.Sprintf("connection ended: %v", c.Err()))
		}
	}()
	return nil
}

func (pc *peer) dialForwarder(ctx context.Context, room uuid.UUID) error {
	u, err := url.Parse(pc.g.e.cfg.URL)
	if err != nil {
		close(pc.ended)
		return err
	}
	q := u.Query()
	q.Set("room", room.String())
	u.RawQuery = q.Encode()
	d := websocket.Dialer{HandshakeTimeout: 10 * time.Second}
	ws, _, err := d.DialContext(ctx, u.String(), nil)
	if err != nil {
		close(pc.ended)
		return fmt.Errorf("dial %s: %w", u, err)
	}
	ws.SetReadLimit(64 << 20)
	pc.ws = ws
	pc.readers.Add(1)
	go func() {
		defer pc.readers.Done()
		defer close(pc.ended)
		for {
			kind, data, err := ws.ReadMessage()
			if err != nil {
				if !pc.stopping.Load() {
					pc.g.e.disconnects.Add(1)
					pc.g.e.fail(fmt.Sprintf("connection ended: %v", err))
				}
				return
			}
			at := time.Now()
			if kind != websocket.TextMessage {
				continue
			}
			req, _, perr := protocol.DecodeRequest(data)
			var p protocol.SessionMessageParams
			if perr != nil || req.Method != protocol.MethodSessionMessage || json.Unmarshal(req.Params, &p) != nil {
				pc.g.e.corrupt.Add(1)
				continue
			}
			pc.receive(p.Message, at, true)
		}
	}()
	return nil
}

// open starts a replayed session. Against a relay: Session.create, every member's
// Session.signup, and the sessionSignup event at each (§4.3, §4.5). Against the forwarder a
// session is only a fresh uuid.
func (g *group) open(ctx context.Context, r *run) error {
	k := len(r.members)
	if g.e.cfg.Target == TargetForwarder {
		r.id = uuid.New()
		for j := range k {
			r.numbers[j] = uint16(j + 1)
		}
		g.setCurrent(r)
		return nil
	}
	s, err := g.peers[0].c.SessionCreate(ctx, g.id, r.plan.kind, nil)
	if err != nil {
		return fmt.Errorf("Session.create: %w", err)
	}
	r.id = s.UUID
	g.setCurrent(r)
	subs := make([]*client.Subscription, k)
	for j := range k {
		subs[j] = g.peers[j].c.Subscribe(client.Filter{Names: []string{protocol.EventSessionSignup}, Session: r.id})
		defer subs[j].Close()
	}
	for j := range k {
		n, err := g.peers[j].c.SessionSignup(ctx, g.id, r.id, r.plan.kind)
		if err != nil {
			return fmt.Errorf("Session.signup: %w", err)
		}
		r.numbers[j] = n
	}
	for j := range k {
		if _, err := subs[j].Next(ctx); err != nil {
			return fmt.Errorf("party %d: %w", r.numbers[j], err)
		}
	}
	return nil
}

// closeSession finishes a completed session: every member's Session.finish and the
// sessionClosed event, naming every party, at each (§4.8). The forwarder has nothing to close.
func (g *group) closeSession(ctx context.Context, r *run) error {
	if g.e.cfg.Target == TargetForwarder {
		return nil
	}
	k := len(r.members)
	subs := make([]*client.Subscription, k)
	for j := range k {
		subs[j] = g.peers[j].c.Subscribe(client.Filter{Names: []string{protocol.EventSessionClosed}})
		defer subs[j].Close()
	}
	errs := make(chan error, k)
	for j := range k {
		go func() { errs <- g.peers[j].c.SessionFinish(ctx, g.id, r.id, r.numbers[j]) }()
	}
	for range k {
		if err := <-errs; err != nil {
			return fmt.Errorf("Session.finish: %w", err)
		}
	}
	want := slices.Clone(r.numbers)
	slices.Sort(want)
	for j := range k {
		ev, err := subs[j].Next(ctx)
		if err != nil {
			return fmt.Errorf("party %d: %w", r.numbers[j], err)
		}
		got, err := ev.AsParties()
		if err != nil || !slices.Equal(got, want) {
			return fmt.Errorf("party %d: sessionClosed named %v, want %v (§4.8)", r.numbers[j], got, want)
		}
	}
	return nil
}
