package faultproxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"
)

// readLimit lets frames far above the protocol's 1 MiB minimum (§4.7) pass the proxy.
const readLimit = 64 << 20

// writeWait bounds every write, so a client that stops reading cannot stall a pump for ever.
const writeWait = 10 * time.Second

// Options configure a proxy. The zero value is usable.
type Options struct {
	Addr   string       // listen address; default "127.0.0.1:0"
	Logger *slog.Logger // default: discard
}

// Proxy is a running fault-injecting proxy.
type Proxy struct {
	target string
	ln     net.Listener
	srv    *http.Server
	log    *slog.Logger

	mu    sync.Mutex // serialises rules; guards rules and the rule-visible state of every Conn
	rules []Rule

	connsMu sync.Mutex // guards conns and nextID; separate so that rules may call Conns
	conns   []*Conn
	nextID  int

	wg sync.WaitGroup // connection pumps
}

// Start listens and forwards every WebSocket connection to target (a ws:// or wss:// URL),
// applying rules in order to every frame.
func Start(target string, opts Options, rules ...Rule) (*Proxy, error) {
	if !strings.HasPrefix(target, "ws://") && !strings.HasPrefix(target, "wss://") {
		return nil, fmt.Errorf("faultproxy: target %q is not a ws:// or wss:// URL", target)
	}
	addr := opts.Addr
	if addr == "" {
		addr = "127.0.0.1:0"
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listen: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Proxy{target: target, ln: ln, log: log, rules: rules}
	p.srv = &http.Server{Handler: http.HandlerFunc(p.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = p.srv.Serve(ln) }()
	return p, nil
}

// URL is the ws:// address clients dial instead of the target (any path is forwarded to the
// target's URL).
func (p *Proxy) URL() string { return "ws://" + p.ln.Addr().String() + "/mpc" }

// AddRule appends a rule; it applies to frames read after it returns.
func (p *Proxy) AddRule(r Rule) {
	p.mu.Lock()
	p.rules = append(p.rules, r)
	p.mu.Unlock()
}

// SetRules replaces every rule (e.g. to switch a fault on or off mid-run); it applies to
// frames read after it returns.
func (p *Proxy) SetRules(rules ...Rule) {
	p.mu.Lock()
	p.rules = append([]Rule(nil), rules...)
	p.mu.Unlock()
}

// Conns returns the connections seen so far, open or closed, by ID (the order they arrived).
// Rules may call it.
func (p *Proxy) Conns() []*Conn {
	p.connsMu.Lock()
	defer p.connsMu.Unlock()
	return append([]*Conn(nil), p.conns...)
}

// Close stops listening, closes every connection and waits for the pumps to end.
func (p *Proxy) Close() error {
	err := p.srv.Close()
	for _, c := range p.Conns() {
		c.shutdown(websocket.CloseGoingAway, "proxy closing")
		c.sides[ToRelay].close(websocket.CloseGoingAway, "") // left open when a rule dropped a client's leaving
	}
	p.wg.Wait()
	return err
}

var upgrader = websocket.Upgrader{
	CheckOrigin:     func(*http.Request) bool { return true },
	ReadBufferSize:  32 << 10,
	WriteBufferSize: 32 << 10,
}

func (p *Proxy) serve(w http.ResponseWriter, r *http.Request) {
	// the id follows the order in which clients arrive, before any dial or upgrade
	p.connsMu.Lock()
	p.nextID++
	id := p.nextID
	p.connsMu.Unlock()
	dctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
	defer cancel()
	relayWS, resp, err := websocket.DefaultDialer.DialContext(dctx, p.target, nil)
	if err != nil {
		status := http.StatusBadGateway
		if resp != nil {
			status = resp.StatusCode
		}
		p.log.Warn("dial target", "target", p.target, "err", err)
		http.Error(w, "faultproxy: cannot reach target: "+err.Error(), status)
		return
	}
	clientWS, err := upgrader.Upgrade(w, r, nil)
	if err != nil {
		_ = relayWS.Close()
		return
	}
	clientWS.SetReadLimit(readLimit)
	relayWS.SetReadLimit(readLimit)
	p.connsMu.Lock()
	c := &Conn{ID: id, proxy: p, pending: map[string]RPC{}, done: make(chan struct{})}
	c.sides[ToRelay] = &side{ws: relayWS}
	c.sides[ToClient] = &side{ws: clientWS}
	// a client's ping goes to the relay and the relay's pong back (the proxy answers neither
	// itself), so that a relay's ping handling shows through it
	clientWS.SetPingHandler(func(data string) error { c.control(ToRelay, "ping", []byte(data), 0); return nil })
	relayWS.SetPongHandler(func(data string) error { c.control(ToClient, "pong", []byte(data), 0); return nil })
	p.conns = append(p.conns, c)
	slices.SortFunc(p.conns, func(a, b *Conn) int { return a.ID - b.ID }) // set-up may finish out of order
	p.connsMu.Unlock()
	p.wg.Add(2)
	go c.pump(ToRelay)
	go c.pump(ToClient)
}

// Conn is one proxied client connection and its connection to the relay.
type Conn struct {
	ID    int // 1, 2, ... in order of arrival
	proxy *Proxy
	sides [3]*side // indexed by the Direction a frame travels: sides[ToRelay] writes to the relay

	// guarded by proxy.mu
	pending        map[string]RPC // requests awaiting a response, by id
	keepClientOpen bool

	// used by the pump of the direction only (gorilla calls the ping handler inside its read)
	midMessage [3]bool // a data message is being read
	pingInside [3]bool // a ping came while it was

	keepRelayOpen atomic.Bool // a control rule dropped the client's leaving: the relay is not told

	closeOnce sync.Once
	gone      atomic.Bool   // set by shutdown; an atomic so a rule can read it without a side's lock
	goneAt    atomic.Int64  // when shutdown ran (unix ns), for rules that time closes
	done      chan struct{} // closed by shutdown: delayed frames stop waiting
}

// side is the writing end of one direction; the mutex keeps writes (pump, injections from other
// connections, hold timers) one at a time, as gorilla/websocket requires. Closing does not take
// it: a write blocked on a peer that stopped reading holds it for up to writeWait.
type side struct {
	mu     sync.Mutex // guards held and timer, and is held across each write
	ws     *websocket.Conn
	held   []byte
	timer  *time.Timer
	closed atomic.Bool
}

// KeepClientOpen makes the proxy keep the client side open when the relay closes the
// connection (frames the client sends afterwards are dropped). Call it from a rule.
func (c *Conn) KeepClientOpen() { c.keepClientOpen = true }

// Send writes a text frame to the client (ToClient) or the relay (ToRelay) of this connection.
func (c *Conn) Send(dir Direction, data []byte) error { return c.sides[dir].write(data, false) }

func (s *side) write(data []byte, binary bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.writeLocked(data, binary)
}

func (s *side) writeLocked(data []byte, binary bool) error {
	if s.closed.Load() {
		return errors.New("faultproxy: connection closed")
	}
	typ := websocket.TextMessage
	if binary {
		typ = websocket.BinaryMessage
	}
	_ = s.ws.SetWriteDeadline(time.Now().Add(writeWait))
	if err := s.ws.WriteMessage(typ, data); err != nil {
		return err
	}
	if s.held != nil && !binary { // a held frame goes right after the next frame (Hold)
		held := s.held
		s.held = nil
		s.timer.Stop()
		return s.ws.WriteMessage(websocket.TextMessage, held)
	}
	return nil
}

func (s *side) hold(data []byte, d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held != nil { // only one frame is held at a time: release the older one first
		held := s.held
		s.held = nil
		s.timer.Stop()
		_ = s.writeLocked(held, false)
	}
	s.held = data
	s.timer = time.AfterFunc(d, func() {
		s.mu.Lock()
		defer s.mu.Unlock()
		if s.held != nil && string(s.held) == string(data) {
			held := s.held
			s.held = nil
			if !s.closed.Load() {
				_ = s.ws.SetWriteDeadline(time.Now().Add(writeWait))
				_ = s.ws.WriteMessage(websocket.TextMessage, held)
			}
		}
	})
}

// close sends the close frame and closes the socket within about a second, even while a write
// to a peer that stopped reading is blocked: gorilla's WriteControl may run beside that write
// and waits for it only until its deadline, and closing the socket ends the write.
func (s *side) close(code int, text string) {
	if !s.closed.CompareAndSwap(false, true) {
		return
	}
	msg := websocket.FormatCloseMessage(code, text)
	_ = s.ws.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second))
	_ = s.ws.Close()
	s.mu.Lock() // the write in progress, if any, has failed by now
	if s.timer != nil {
		s.timer.Stop()
	}
	s.held = nil
	s.mu.Unlock()
}

// Close ends the connection from outside the rules (a fault such as "this party's link
// drops"): the client gets a close frame with code and text, the relay a normal close.
func (c *Conn) Close(code int, text string) { c.shutdown(code, text) }

// Closed reports whether the connection has ended (the client left, the relay closed it
// without KeepClientOpen, or a rule closed it). Rules may call it.
func (c *Conn) Closed() bool { return c.gone.Load() }

// ClosedAt is when the connection ended (the zero time while it is open). Rules may call it.
func (c *Conn) ClosedAt() time.Time {
	if ns := c.goneAt.Load(); ns != 0 {
		return time.Unix(0, ns)
	}
	return time.Time{}
}

// shutdown closes both sides, the relay's first: however slow the client is, the relay learns
// within about a second that the connection is gone (§6.1 acts on that).
func (c *Conn) shutdown(code int, text string) {
	c.closeOnce.Do(func() {
		c.goneAt.Store(time.Now().UnixNano())
		c.gone.Store(true)
		close(c.done)
		if !c.keepRelayOpen.Load() {
			c.sides[ToRelay].close(websocket.CloseNormalClosure, "")
		}
		c.sides[ToClient].close(code, text)
	})
}

// pump reads the frames travelling in dir and hands each to the rules.
func (c *Conn) pump(dir Direction) {
	defer c.proxy.wg.Done()
	from := c.sides[ToClient].ws // frames to the relay are read from the client
	if dir == ToClient {
		from = c.sides[ToRelay].ws
	}
	for {
		typ, data, err := c.read(dir, from)
		if err != nil {
			c.ended(dir, err)
			return
		}
		f := &Frame{Conn: c, Dir: dir, Binary: typ == websocket.BinaryMessage, Data: data, At: time.Now(), PingInside: c.pingInside[dir]}
		c.proxy.applyRules(f)
		c.emit(f)
	}
}

// read reads one data message in dir, noting whether a ping came between its fragments.
func (c *Conn) read(dir Direction, from *websocket.Conn) (int, []byte, error) {
	c.pingInside[dir] = false
	typ, r, err := from.NextReader()
	if err != nil {
		return 0, nil, err
	}
	c.midMessage[dir] = true
	defer func() { c.midMessage[dir] = false }()
	data, err := io.ReadAll(r)
	return typ, data, err
}

// control hands a control frame (or the client's leaving) to the control rules and, unless one
// dropped it, passes it on.
func (c *Conn) control(dir Direction, kind string, data []byte, closeCode int) {
	if kind == "ping" && c.midMessage[dir] {
		c.pingInside[dir] = true
	}
	f := &Frame{Conn: c, Dir: dir, Control: kind, Data: data, CloseCode: closeCode, At: time.Now()}
	c.proxy.applyRules(f)
	if f.drop {
		if kind == "close" {
			c.keepRelayOpen.Store(true)
		}
		return
	}
	op := websocket.PingMessage
	if kind == "pong" {
		op = websocket.PongMessage
	}
	if kind != "close" {
		_ = c.sides[dir].ws.WriteControl(op, f.Data, time.Now().Add(time.Second))
	}
}

// ended handles the end of reading in dir: the peer closed or failed.
func (c *Conn) ended(dir Direction, err error) {
	code, text := websocket.CloseNormalClosure, ""
	var ce *websocket.CloseError
	if errors.As(err, &ce) && ce.Code != websocket.CloseNoStatusReceived && ce.Code != websocket.CloseAbnormalClosure {
		code, text = ce.Code, ce.Text
	}
	if dir == ToRelay && !c.gone.Load() { // the client left: the control rules may keep the relay from knowing
		sent := 0
		if errors.As(err, &ce) && ce.Code != websocket.CloseAbnormalClosure {
			sent = ce.Code
		}
		c.control(ToRelay, "close", nil, sent)
	}
	if dir == ToClient { // the relay went away
		c.proxy.mu.Lock()
		keep := c.keepClientOpen
		c.proxy.mu.Unlock()
		c.sides[ToRelay].close(websocket.CloseNormalClosure, "")
		if keep {
			return // the client side stays open; its pump drops what it reads
		}
		c.shutdown(code, text)
		return
	}
	c.shutdown(websocket.CloseNormalClosure, "") // the client went away
}

func (p *Proxy) applyRules(f *Frame) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !f.Binary && f.Control == "" {
		f.RPC = decodeRPC(f.Dir, f.Data)
		f.Conn.track(f)
	}
	for _, r := range p.rules {
		if r.matches(f) {
			r.Apply(f)
		}
	}
}

// track pairs responses with the requests they answer, so rules see the method and params.
func (c *Conn) track(f *Frame) {
	switch f.RPC.Kind {
	case KindRequest:
		if f.RPC.ID != nil {
			c.pending[string(f.RPC.ID)] = f.RPC
		}
	case KindResponse:
		if f.RPC.ID == nil {
			return
		}
		if req, ok := c.pending[string(f.RPC.ID)]; ok {
			delete(c.pending, string(f.RPC.ID))
			f.RPC.Method, f.RPC.Params = req.Method, req.Params
		}
	}
}

func (c *Conn) emit(f *Frame) {
	if f.await != nil {
		t := time.NewTimer(f.awaitMax)
		select {
		case <-f.await:
		case <-t.C:
		case <-c.done:
		}
		t.Stop()
	}
	if f.delay > 0 {
		t := time.NewTimer(f.delay)
		select {
		case <-t.C:
		case <-c.done: // closed meanwhile: the write below fails at once, and Close need not wait
		}
		t.Stop()
	}
	out := c.sides[f.Dir]
	switch {
	case f.closeCode != 0:
		c.shutdown(f.closeCode, f.closeText)
		return
	case f.drop:
	case f.hold > 0 && !f.Binary:
		out.hold(f.Data, f.hold)
	default:
		for i := 0; i <= f.copies; i++ {
			if err := out.write(f.Data, f.Binary); err != nil {
				break
			}
		}
	}
	for _, in := range f.injects {
		_ = in.conn.sides[in.dir].write(in.data, false)
	}
}
