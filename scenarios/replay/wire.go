package replay

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gobwas/ws"
	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// wire is the generator's own connection. Its frames are read by a poller (poll_linux.go):
// a few goroutines, each waiting on one epoll set for many connections, read every readable
// connection once and handle its frames in place (no goroutine per connection, no queues, no
// hand-offs); senders write under a mutex, a party's frames that are due together in one
// write; calls wait on a channel per request id. The SDK's client is built for correctness
// over speed (every frame is decoded, events fan out through subscription queues); a load
// generator must be much cheaper than what it measures, so it speaks the few requests it needs
// itself.
type wire struct {
	nc     net.Conn
	rc     syscall.RawConn // nc's, for the poller's reads
	wmu    sync.Mutex
	nextID atomic.Uint64
	// deadlineAt is when the write deadline was last moved (under wmu): it is moved at most
	// once a second, not per frame (each move re-arms a runtime timer).
	deadlineAt time.Time

	mu      sync.Mutex
	pending map[uint64]slot
	err     error

	// Read state, owned by the connection's poller (or its reader goroutine), which holds
	// readMu while it reads and hands frames on: stop, giving up on the peer's close reply,
	// takes it before ending the connection, so that no frame is handled once stop returns.
	readMu  sync.Mutex
	in      inbox
	at      time.Time // when the bytes being taken apart were read
	onFrame func(frame []byte, e *envelope, at time.Time)
	handle  frameHandler // w.frame, bound once

	stopping atomic.Bool
	endOnce  sync.Once
	ended    chan struct{} // closed when the connection is over and its socket closed
	unwatch  func()        // takes the connection off its poller
}

// reply is a response to a call: result bytes (copied), an error object, or the connection's end.
type reply struct {
	result []byte
	rpcErr *protocol.Error
	err    error
}

const (
	writeWait    = 10 * time.Second // one frame write; loopback writes take microseconds
	closeGrace   = time.Second      // how long stop waits for the peer's close reply
	readLimit    = 64 << 20         // above any relay's frame limit
	maxPooledOut = 1 << 20          // frame buffers above this are not kept for reuse
)

var dialer = ws.Dialer{Timeout: 10 * time.Second}

// dialWire connects to rawURL (with room as the forwarder's query parameter when not empty)
// and has its frames read: onFrame gets every text frame that is not the response to a call.
// onFrame must not keep frame: its buffer is reused.
func dialWire(ctx context.Context, rawURL, room string, onFrame func(frame []byte, e *envelope, at time.Time)) (*wire, error) {
	target := rawURL
	if room != "" {
		u, err := url.Parse(rawURL)
		if err != nil {
			return nil, err
		}
		q := u.Query()
		q.Set("room", room)
		u.RawQuery = q.Encode()
		target = u.String()
	}
	nc, br, _, err := dialer.Dial(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	w := &wire{nc: nc, pending: map[uint64]slot{}, ended: make(chan struct{}), onFrame: onFrame}
	w.handle = w.frame
	if br != nil {
		// Frames the server sent right after the handshake, read with it.
		early := make([]byte, br.Buffered())
		_, _ = io.ReadFull(br, early)
		ws.PutReader(br)
		if err := w.take(early, time.Now()); err != nil {
			w.end(err)
			return nil, fmt.Errorf("dial %s: %w", target, err)
		}
	}
	watch(w)
	return w, nil
}

// readBuf is where the next read goes: the free end of an incomplete frame's buffer (a large
// frame is read straight into its own buffer), else spare.
func (w *wire) readBuf(spare []byte) []byte {
	if w.in.part != nil {
		return w.in.space()
	}
	return spare
}

// took takes apart the n bytes a read brought into readBuf(spare).
func (w *wire) took(spare []byte, n int, at time.Time) error {
	data := spare[:n]
	if w.in.part != nil {
		*w.in.part = (*w.in.part)[:len(*w.in.part)+n]
		data = *w.in.part
	}
	return w.take(data, at)
}

// take takes apart data, the bytes a read brought (after what an incomplete frame kept), and
// keeps what is left of an incomplete frame.
func (w *wire) take(data []byte, at time.Time) error {
	w.at = at
	used, err := w.in.feed(data, w.handle)
	if err != nil {
		return err
	}
	w.in.keep(data[used:])
	return nil
}

// frame handles one complete frame (called by inbox.feed).
func (w *wire) frame(op ws.OpCode, payload []byte) error {
	switch op {
	case ws.OpText:
		w.dispatch(payload, w.at)
	case ws.OpPing:
		// Answered off the poller, which must never wait on a socket's write.
		p := append([]byte(nil), payload...)
		go func() { _ = w.writeControl(ws.OpPong, p) }()
	case ws.OpClose:
		if w.stopping.Load() {
			return errClosed
		}
		code, reason := ws.ParseCloseFrameData(payload)
		// Echo the close with its status code (§5.5.1) before the socket goes.
		_ = w.writeControl(ws.OpClose, payload[:min(len(payload), 2)])
		return fmt.Errorf("closed by the server: %d %s", code, reason)
	}
	return nil // binary frames and pongs are not part of the protocol (§1.2): ignored
}

// errClosed is the end of a connection the generator closed itself.
var errClosed = errors.New("closed")

// end closes the connection once, with cause: calls still waiting get it, the socket is
// closed, ended is closed.
func (w *wire) end(cause error) {
	w.endOnce.Do(func() {
		w.mu.Lock()
		w.err = cause
		pending := w.pending
		w.pending = nil
		w.mu.Unlock()
		for _, sl := range pending {
			sl.a.put(sl.i, reply{err: fmt.Errorf("connection ended: %w", cause)})
		}
		if w.unwatch != nil {
			w.unwatch()
		}
		_ = w.nc.Close()
		close(w.ended)
	})
}

// dispatch routes a text frame: the response to a waiting call, or onFrame.
func (w *wire) dispatch(frame []byte, at time.Time) {
	e, ok := scanEnvelope(frame)
	if ok && !e.isEvent() && e.method == nil {
		if id, isNum := e.idNumber(); isNum {
			w.mu.Lock()
			sl, waiting := w.pending[id]
			delete(w.pending, id)
			w.mu.Unlock()
			if waiting {
				sl.a.put(sl.i, replyOf(&e))
				return
			}
		}
	}
	if !ok {
		w.onFrame(frame, nil, at)
		return
	}
	w.onFrame(frame, &e, at)
}

func replyOf(e *envelope) reply {
	if e.errObj != nil {
		var pe protocol.Error
		if err := json.Unmarshal(e.errObj, &pe); err != nil {
			return reply{err: fmt.Errorf("error response %s: %w", e.errObj, err)}
		}
		return reply{rpcErr: &pe}
	}
	return reply{result: append([]byte(nil), e.result...)}
}

// send writes one text frame with payload frame.
func (w *wire) send(frame []byte) error {
	bp := outBufs.Get().(*[]byte)
	b := append(beginFrame(*bp), frame...)
	err := w.write(sealFrame(b, ws.OpText))
	putOut(bp, b)
	return err
}

// write writes frames (sealed) in one system call.
func (w *wire) write(frames ...[]byte) error {
	ioRelease()
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if now := time.Now(); now.Sub(w.deadlineAt) > time.Second {
		w.deadlineAt = now
		_ = w.nc.SetWriteDeadline(now.Add(writeWait))
	}
	if len(frames) == 1 {
		_, err := w.nc.Write(frames[0])
		return err
	}
	bufs := net.Buffers(frames)
	_, err := bufs.WriteTo(w.nc)
	return err
}

// writeControl writes a control frame (§5.5).
func (w *wire) writeControl(op ws.OpCode, payload []byte) error {
	var buf [headroom + 125]byte
	b := append(beginFrame(buf[:0]), payload...)
	return w.write(sealFrame(b, op))
}

// putOut returns an outgoing frame's buffer (b, grown from *bp) to the pool.
func putOut(bp *[]byte, b []byte) {
	if cap(b) <= maxPooledOut {
		*bp = b[:0]
		outBufs.Put(bp)
	}
}

// call sends a request and waits for its response (§2.2, §2.3).
func (w *wire) call(ctx context.Context, method string, params any) ([]byte, error) {
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", method, err)
	}
	return w.callRaw(ctx, method, raw)
}

// callRaw is call with the params already encoded.
func (w *wire) callRaw(ctx context.Context, method string, raw []byte) ([]byte, error) {
	a := newAnswers(1)
	if err := w.start(method, raw, a, 0); err != nil {
		return nil, err
	}
	if err := a.await(ctx); err != nil {
		return nil, err
	}
	return a.result(0)
}

// answers collects the replies to calls written together (the members' Session.signup or
// Session.finish, each on its member's connection): all are written before any is awaited, and
// the waiter wakes once, when the last reply is in.
type answers struct {
	countdown
	replies []reply
	calls   []callRef
}

type callRef struct {
	w      *wire
	id     uint64
	method string
}

// slot is where the reply to a call goes.
type slot struct {
	a *answers
	i int
}

func newAnswers(n int) *answers {
	a := &answers{replies: make([]reply, n), calls: make([]callRef, n)}
	a.init(n)
	return a
}

func (a *answers) put(i int, r reply) {
	a.replies[i] = r
	a.tick()
}

// await waits for every reply; on giving up, the calls are forgotten.
func (a *answers) await(ctx context.Context) error {
	select {
	case <-a.done:
		return nil
	case <-ctx.Done():
		first := ""
		for _, c := range a.calls {
			if c.w != nil {
				c.w.forget(c.id)
				first = cmp.Or(first, c.method)
			}
		}
		return fmt.Errorf("%s: waiting for the response: %w", first, ctx.Err())
	}
}

// result is the result of call i, once await returned.
func (a *answers) result(i int) ([]byte, error) {
	r, method := a.replies[i], a.calls[i].method
	if r.err != nil {
		return nil, fmt.Errorf("%s: %w", method, r.err)
	}
	if r.rpcErr != nil {
		return nil, fmt.Errorf("%s: %w", method, r.rpcErr)
	}
	return r.result, nil
}

// countdown is closed when its last part is in.
type countdown struct {
	left atomic.Int32
	done chan struct{}
}

func (c *countdown) init(n int) {
	c.done = make(chan struct{})
	c.left.Store(int32(n))
}

func (c *countdown) tick() {
	if c.left.Add(-1) == 0 {
		close(c.done)
	}
}

// start writes a request whose reply goes to a's slot i.
func (w *wire) start(method string, raw []byte, a *answers, i int) error {
	id := w.nextID.Add(1)
	w.mu.Lock()
	if w.pending == nil {
		err := w.err
		w.mu.Unlock()
		return fmt.Errorf("%s: connection ended: %w", method, err)
	}
	a.calls[i] = callRef{w: w, id: id, method: method}
	w.pending[id] = slot{a, i}
	w.mu.Unlock()
	bp := outBufs.Get().(*[]byte)
	b := appendRequest(beginFrame(*bp), id, method, raw)
	err := w.write(sealFrame(b, ws.OpText))
	putOut(bp, b)
	if err != nil {
		w.forget(id)
		return fmt.Errorf("%s: write: %w", method, err)
	}
	return nil
}

func (w *wire) forget(id uint64) {
	w.mu.Lock()
	delete(w.pending, id)
	w.mu.Unlock()
}

func appendRequest(b []byte, id uint64, method string, params []byte) []byte {
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `,"method":"`...)
	b = append(b, method...)
	b = append(b, `","params":`...)
	b = append(b, params...)
	return append(b, '}')
}

func (w *wire) closed() bool {
	select {
	case <-w.ended:
		return true
	default:
		return false
	}
}

// stop sends a normal close, waits briefly for the peer's reply, and closes the socket: every
// connection the generator opened is closed when the run ends.
func (w *wire) stop() {
	if w.stopping.Swap(true) {
		<-w.ended
		return
	}
	w.wmu.Lock()
	_ = w.nc.SetWriteDeadline(time.Now().Add(closeGrace))
	w.deadlineAt = time.Now()
	w.wmu.Unlock()
	_ = w.writeControl(ws.OpClose, ws.NewCloseFrameBody(ws.StatusNormalClosure, ""))
	select {
	case <-w.ended:
	case <-time.After(closeGrace):
		w.readMu.Lock()
		w.end(errClosed)
		w.readMu.Unlock()
	}
}

// Typed calls of the set-up and the finish (§4.1–§4.8).

func (w *wire) groupCreate(ctx context.Context, label string, p protocol.Parameters) (uuid.UUID, error) {
	res, err := w.call(ctx, protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: label, Params: p})
	if err != nil {
		return uuid.Nil, err
	}
	var id uuid.UUID
	if err := json.Unmarshal(res, &id); err != nil {
		return uuid.Nil, fmt.Errorf("Group.create result %s: %w", res, err)
	}
	return id, nil
}

func (w *wire) groupJoin(ctx context.Context, id uuid.UUID) error {
	_, err := w.call(ctx, protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: id})
	return err
}

// The calls of every session are encoded by appending (no reflection per session); the
// group's calls, once per connection, go through encoding/json.

func (w *wire) sessionCreate(ctx context.Context, group string, kind protocol.SessionKind) (uuid.UUID, error) {
	res, err := w.callRaw(ctx, protocol.MethodSessionCreate, sessionParams(group, "", string(kind), "null"))
	if err != nil {
		return uuid.Nil, err
	}
	// The session object (§3.3): only its uuid is needed.
	var id []byte
	sc := scanner{b: res}
	ok := sc.object(func(key []byte) bool {
		if string(key) == "uuid" {
			var ok bool
			id, ok = sc.str()
			return ok
		}
		_, ok := sc.value()
		return ok
	})
	u, perr := uuid.ParseBytes(id)
	if !ok || perr != nil {
		return uuid.Nil, fmt.Errorf("Session.create result %s: not a session object with a uuid (§3.3)", res)
	}
	return u, nil
}

func (w *wire) startSignup(group, session string, kind protocol.SessionKind, a *answers, i int) error {
	return w.start(protocol.MethodSessionSignup, sessionParams(group, session, string(kind), ""), a, i)
}

// signupNumber reads the result of Session.signup: the party number (§3.4).
func signupNumber(res []byte) (uint16, error) {
	n, err := strconv.ParseUint(string(res), 10, 16)
	if err != nil {
		return 0, fmt.Errorf("Session.signup result %s: not a party number (§3.4)", res)
	}
	return uint16(n), nil
}

func (w *wire) startFinish(group, session string, number uint16, a *answers, i int) error {
	return w.start(protocol.MethodSessionFinish, sessionParams(group, session, "", strconv.Itoa(int(number))), a, i)
}

// sessionParams appends ["group", "session", "kind", last]: the params of Session.create
// (no session), Session.signup (no last) and Session.finish (no kind), §4.3–§4.8.
func sessionParams(group, session, kind, last string) []byte {
	b := make([]byte, 0, 128)
	b = append(b, `["`...)
	b = append(b, group...)
	b = append(b, '"')
	for _, s := range []string{session, kind} {
		if s != "" {
			b = append(b, `,"`...)
			b = append(b, s...)
			b = append(b, '"')
		}
	}
	if last != "" {
		b = append(b, ',')
		b = append(b, last...)
	}
	return append(b, ']')
}
