package replay

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"mpcrelay/relay/protocol"
)

// wire is the generator's own connection: one goroutine reads and handles every frame in place
// (no queues, no hand-offs between goroutines), senders write under a mutex, calls wait on a
// channel per request id. The SDK's client is built for correctness over speed (every frame is
// decoded, events fan out through subscription queues); a load generator must be much cheaper
// than what it measures, so it speaks the few requests it needs itself.
type wire struct {
	ws     *websocket.Conn
	wmu    sync.Mutex
	nextID atomic.Uint64
	// deadlineAt is when the write deadline was last moved (under wmu): it is moved at most
	// once a second, not per frame (each move re-arms a runtime timer).
	deadlineAt time.Time

	mu      sync.Mutex
	pending map[uint64]chan reply
	err     error

	stopping atomic.Bool
	ended    chan struct{} // closed when the reader has returned
}

// reply is a response to a call: result bytes (copied), an error object, or the connection's end.
type reply struct {
	result []byte
	rpcErr *protocol.Error
	err    error
}

const (
	writeWait  = 10 * time.Second // one frame write; loopback writes take microseconds
	closeGrace = time.Second      // how long stop waits for the peer's close reply
	readLimit  = 64 << 20         // above any relay's frame limit
	// Every connection keeps its read buffer; large frames bypass it into the (pooled) frame
	// buffer. Write buffers are pooled, so they can hold a 178 KB frame whole: one write and one
	// unfragmented WebSocket frame instead of 64 KB fragments.
	readBufSize  = 16 << 10
	writeBufSize = 256 << 10
	maxPooledIn  = 1 << 20 // frame buffers above this are not kept for reuse
)

// Write buffers are held only while a frame is written, so thousands of idle connections do
// not each keep one.
var writePool sync.Pool

var dialer = websocket.Dialer{HandshakeTimeout: 10 * time.Second, ReadBufferSize: readBufSize,
	WriteBufferSize: writeBufSize, WriteBufferPool: &writePool}

// frameBufs recycles the buffers frames are read into: a frame is handled before the next one
// is read, so a buffer is free again as soon as its handler returns.
var frameBufs = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

// dialWire connects to rawURL (with room as the forwarder's query parameter when not empty)
// and starts the reader, which calls onFrame for every text frame that is not the response to
// a call. onFrame must not keep frame: its buffer is reused.
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
	ws, _, err := dialer.DialContext(ctx, target, nil)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", target, err)
	}
	ws.SetReadLimit(readLimit)
	w := &wire{ws: ws, pending: map[uint64]chan reply{}, ended: make(chan struct{})}
	go w.read(onFrame)
	return w, nil
}

func (w *wire) read(onFrame func([]byte, *envelope, time.Time)) {
	defer close(w.ended)
	var cause error
	for {
		kind, r, err := w.ws.NextReader()
		if err != nil {
			cause = err
			break
		}
		bp := frameBufs.Get().(*[]byte)
		buf, err := readAll(r, (*bp)[:0])
		if err != nil {
			cause = err
			break
		}
		at := time.Now()
		if kind == websocket.TextMessage {
			w.handle(buf, at, onFrame)
		}
		if cap(buf) <= maxPooledIn {
			*bp = buf[:0]
			frameBufs.Put(bp)
		}
	}
	w.mu.Lock()
	w.err = cause
	pending := w.pending
	w.pending = nil
	w.mu.Unlock()
	for _, ch := range pending {
		ch <- reply{err: fmt.Errorf("connection ended: %w", cause)}
	}
	_ = w.ws.Close()
}

// readAll reads one frame into buf, growing it as needed.
func readAll(r io.Reader, buf []byte) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

func (w *wire) handle(frame []byte, at time.Time, onFrame func([]byte, *envelope, time.Time)) {
	e, ok := scanEnvelope(frame)
	if ok && !e.isEvent() && e.method == nil {
		if id, isNum := e.idNumber(); isNum {
			w.mu.Lock()
			ch, waiting := w.pending[id]
			delete(w.pending, id)
			w.mu.Unlock()
			if waiting {
				ch <- replyOf(&e)
				return
			}
		}
	}
	if !ok {
		onFrame(frame, nil, at)
		return
	}
	onFrame(frame, &e, at)
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

// send writes one text frame.
func (w *wire) send(frame []byte) error {
	w.wmu.Lock()
	defer w.wmu.Unlock()
	if now := time.Now(); now.Sub(w.deadlineAt) > time.Second {
		w.deadlineAt = now
		_ = w.ws.SetWriteDeadline(now.Add(writeWait))
	}
	return w.ws.WriteMessage(websocket.TextMessage, frame)
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
	id := w.nextID.Add(1)
	frame := appendRequest(nil, id, method, raw)
	ch := make(chan reply, 1)
	w.mu.Lock()
	if w.pending == nil {
		err := w.err
		w.mu.Unlock()
		return nil, fmt.Errorf("%s: connection ended: %w", method, err)
	}
	w.pending[id] = ch
	w.mu.Unlock()
	if err := w.send(frame); err != nil {
		w.forget(id)
		return nil, fmt.Errorf("%s: write: %w", method, err)
	}
	select {
	case r := <-ch:
		if r.err != nil {
			return nil, fmt.Errorf("%s: %w", method, r.err)
		}
		if r.rpcErr != nil {
			return nil, fmt.Errorf("%s: %w", method, r.rpcErr)
		}
		return r.result, nil
	case <-ctx.Done():
		w.forget(id)
		return nil, fmt.Errorf("%s: waiting for the response: %w", method, ctx.Err())
	}
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

// stop sends a normal close, waits briefly for the peer's reply and the reader, and closes the
// socket: every connection the generator opened is closed when the run ends.
func (w *wire) stop() {
	if w.stopping.Swap(true) {
		<-w.ended
		return
	}
	w.wmu.Lock()
	_ = w.ws.WriteControl(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""), time.Now().Add(closeGrace))
	w.wmu.Unlock()
	select {
	case <-w.ended:
	case <-time.After(closeGrace):
		_ = w.ws.Close()
		<-w.ended
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

func (w *wire) sessionSignup(ctx context.Context, group, session string, kind protocol.SessionKind) (uint16, error) {
	res, err := w.callRaw(ctx, protocol.MethodSessionSignup, sessionParams(group, session, string(kind), ""))
	if err != nil {
		return 0, err
	}
	n, err := strconv.ParseUint(string(res), 10, 16)
	if err != nil {
		return 0, fmt.Errorf("Session.signup result %s: not a party number (§3.4)", res)
	}
	return uint16(n), nil
}

func (w *wire) sessionFinish(ctx context.Context, group, session string, number uint16) error {
	_, err := w.callRaw(ctx, protocol.MethodSessionFinish, sessionParams(group, session, "", strconv.Itoa(int(number))))
	return err
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
