package client

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"mpcrelay/relay/protocol"
)

// RPCError is an error response of the relay (§2.3): Code, Message, Data.
type RPCError = protocol.Error

// ErrClosed is wrapped by every error caused by the connection having ended.
var ErrClosed = errors.New("client: connection closed")

const (
	defaultReadLimit   = 64 << 20 // above any relay's frame limit, so the relay's limit is what is tested
	defaultCallTimeout = 30 * time.Second
	writeWait          = 10 * time.Second
	closeGrace         = time.Second // how long Close waits for the relay's close reply
)

// Direction of a frame on the wire.
type Direction int

const (
	Sent Direction = iota
	Received
)

func (d Direction) String() string {
	if d == Sent {
		return "sent"
	}
	return "received"
}

// Frame is one WebSocket message as it crossed the wire.
type Frame struct {
	Dir    Direction
	Binary bool
	Data   []byte
	At     time.Time
}

type options struct {
	header      http.Header
	dialer      *websocket.Dialer
	readLimit   int64
	hook        func(Frame)
	callTimeout time.Duration
}

// Option configures Dial.
type Option func(*options)

// WithHeader sets handshake headers (Origin, for instance).
func WithHeader(h http.Header) Option { return func(o *options) { o.header = h } }

// WithDialer replaces the default dialer (TLS settings, proxies).
func WithDialer(d *websocket.Dialer) Option { return func(o *options) { o.dialer = d } }

// WithReadLimit sets the largest frame accepted from the relay (default 64 MiB).
func WithReadLimit(n int64) Option { return func(o *options) { o.readLimit = n } }

// WithFrameHook calls f for every frame sent and received, in wire order per direction.
// f runs on the connection's goroutines: keep it short. A sent frame is reported after its write
// returns, stamped with the time the write began, so order transcripts by At.
func WithFrameHook(f func(Frame)) Option { return func(o *options) { o.hook = f } }

// WithCallTimeout bounds calls whose context has no deadline (default 30s).
func WithCallTimeout(d time.Duration) Option { return func(o *options) { o.callTimeout = d } }

// Client is a connection to a relay. It is safe for concurrent use.
type Client struct {
	conn   *websocket.Conn
	opts   options
	nextID atomic.Uint64

	writeMu sync.Mutex

	mu        sync.Mutex
	pending   map[string]chan Response
	subs      map[*Subscription]struct{}
	err       error
	closeCode int
	closeRPC  *RPCError // the close-connection error, when the relay announced the close (§2.5)

	unmatched *queue[Frame]
	done      chan struct{}
	closeOnce sync.Once
}

// Dial connects to a relay, e.g. ws://127.0.0.1:3030/mpc.
func Dial(ctx context.Context, url string, opts ...Option) (*Client, error) {
	o := options{readLimit: defaultReadLimit, callTimeout: defaultCallTimeout}
	for _, opt := range opts {
		opt(&o)
	}
	d := o.dialer
	if d == nil {
		d = &websocket.Dialer{HandshakeTimeout: 10 * time.Second, Proxy: http.ProxyFromEnvironment}
	}
	conn, resp, err := d.DialContext(ctx, url, o.header)
	if err != nil {
		if resp != nil {
			return nil, fmt.Errorf("dial %s: %w (HTTP %s)", url, err, resp.Status)
		}
		return nil, fmt.Errorf("dial %s: %w", url, err)
	}
	conn.SetReadLimit(o.readLimit)
	c := &Client{
		conn:      conn,
		opts:      o,
		pending:   map[string]chan Response{},
		subs:      map[*Subscription]struct{}{},
		unmatched: newQueue[Frame](),
		done:      make(chan struct{}),
	}
	go c.readLoop()
	return c, nil
}

// Done is closed when the connection has ended.
func (c *Client) Done() <-chan struct{} { return c.done }

// Err says why the connection ended (nil while it is open). When the relay announced the close
// with a close-connection error (§2.5), the error wraps both ErrClosed and that *RPCError.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// CloseCode is the close code the relay sent, 0 if none (or still open).
func (c *Client) CloseCode() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.closeCode
}

// Close sends a normal close frame, waits briefly for the relay's reply and ends the connection.
// Frames not yet read from Unmatched are dropped and its channel closes: the caller is done with
// the client, and a frame nobody will read must not hold a goroutine for ever (late answers to
// calls given up on land there).
func (c *Client) Close() error {
	c.closeOnce.Do(func() {
		msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "")
		_ = c.conn.WriteControl(websocket.CloseMessage, msg, time.Now().Add(writeWait))
		select {
		case <-c.done:
		case <-time.After(closeGrace):
		}
		_ = c.conn.Close()
		<-c.done
		c.unmatched.cancel()
	})
	return nil
}

// NextID reserves a request id, for hand-built requests sent with Send.
func (c *Client) NextID() uint64 { return c.nextID.Add(1) }

// Unmatched delivers frames that are neither events nor responses to a pending call (the answer
// to a frame sent with Send, an error without id, a binary frame), in order, never dropped while
// the client is open. The channel closes when the connection has ended and the queue is
// drained, or at Close.
func (c *Client) Unmatched() <-chan Frame { return c.unmatched.out }

// Send writes one text frame verbatim.
func (c *Client) Send(ctx context.Context, frame []byte) error {
	return c.write(ctx, websocket.TextMessage, frame)
}

// SendBinary writes one binary frame (§1.2: relays ignore them).
func (c *Client) SendBinary(ctx context.Context, data []byte) error {
	return c.write(ctx, websocket.BinaryMessage, data)
}

func (c *Client) write(ctx context.Context, kind int, data []byte) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	select {
	case <-c.done:
		return c.closedErr()
	default:
	}
	deadline := time.Now().Add(writeWait)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	_ = c.conn.SetWriteDeadline(deadline)
	// Stamped before the write: the response can arrive (and be hooked) before WriteMessage
	// returns, and a transcript sorted by time must still show the request first.
	at := time.Now()
	if err := c.conn.WriteMessage(kind, data); err != nil {
		return fmt.Errorf("write: %w: %w", ErrClosed, err)
	}
	if c.opts.hook != nil {
		c.opts.hook(Frame{Dir: Sent, Binary: kind == websocket.BinaryMessage, Data: data, At: at})
	}
	return nil
}

func (c *Client) closedErr() error {
	if err := c.Err(); err != nil {
		return err
	}
	return ErrClosed
}

func (c *Client) readLoop() {
	var cause error
	for {
		kind, data, err := c.conn.ReadMessage()
		if err != nil {
			cause = err
			break
		}
		f := Frame{Dir: Received, Binary: kind == websocket.BinaryMessage, Data: data, At: time.Now()}
		if c.opts.hook != nil {
			c.opts.hook(f)
		}
		c.dispatch(f)
	}
	c.finish(cause)
}

func (c *Client) dispatch(f Frame) {
	if f.Binary {
		c.unmatched.push(f)
		return
	}
	in, err := protocol.DecodeIncoming(f.Data)
	if err != nil {
		c.unmatched.push(f)
		return
	}
	if in.Error != nil && in.Error.ClosesConnection() {
		c.mu.Lock()
		c.closeRPC = in.Error
		c.mu.Unlock()
	}
	if in.IsEvent() {
		pe, err := in.Event()
		if err != nil {
			c.unmatched.push(f)
			return
		}
		c.publish(Event{Name: pe.Name, Payload: pe.Payload, Raw: f.Data, At: f.At})
		return
	}
	if in.ID != nil {
		c.mu.Lock()
		ch, ok := c.pending[string(in.ID)]
		delete(c.pending, string(in.ID))
		c.mu.Unlock()
		if ok {
			ch <- Response{Incoming: in, Raw: f.Data, At: f.At}
			return
		}
	}
	c.unmatched.push(f)
}

func (c *Client) finish(cause error) {
	c.mu.Lock()
	var ce *websocket.CloseError
	if errors.As(cause, &ce) {
		c.closeCode = ce.Code
	}
	switch {
	case c.closeRPC != nil:
		c.err = fmt.Errorf("%w by the relay: %w", ErrClosed, c.closeRPC)
	case cause != nil:
		c.err = fmt.Errorf("%w: %w", ErrClosed, cause)
	default:
		c.err = ErrClosed
	}
	pending := c.pending
	c.pending = map[string]chan Response{}
	subs := c.subs
	c.subs = map[*Subscription]struct{}{}
	c.mu.Unlock()

	close(c.done)
	_ = c.conn.Close()
	for _, ch := range pending {
		close(ch)
	}
	for s := range subs {
		s.q.end()
	}
	c.unmatched.end()
}

// Response is a response matched to a call.
type Response struct {
	protocol.Incoming
	Raw []byte
	At  time.Time
}

// CallRaw sends a request with params verbatim (nil → "params" omitted) and returns the response,
// error responses included; err reports only transport failures and the context.
func (c *Client) CallRaw(ctx context.Context, method string, params json.RawMessage) (Response, error) {
	if _, ok := ctx.Deadline(); !ok && c.opts.callTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opts.callTimeout)
		defer cancel()
	}
	id := c.NextID()
	key := strconv.FormatUint(id, 10)
	frame, err := json.Marshal(protocol.Request{JSONRPC: protocol.Version, ID: json.RawMessage(key), Method: method, Params: params})
	if err != nil {
		return Response{}, fmt.Errorf("%s: encode request: %w", method, err)
	}
	ch := make(chan Response, 1)
	c.mu.Lock()
	if c.err != nil {
		err := c.err
		c.mu.Unlock()
		return Response{}, fmt.Errorf("%s: %w", method, err)
	}
	c.pending[key] = ch
	c.mu.Unlock()
	forget := func() {
		c.mu.Lock()
		delete(c.pending, key)
		c.mu.Unlock()
	}
	if err := c.write(ctx, websocket.TextMessage, frame); err != nil {
		forget()
		return Response{}, fmt.Errorf("%s: %w", method, err)
	}
	select {
	case resp, ok := <-ch:
		if !ok {
			return Response{}, fmt.Errorf("%s: no response: %w", method, c.closedErr())
		}
		return resp, nil
	case <-ctx.Done():
		forget()
		return Response{}, fmt.Errorf("%s: waiting for the response: %w", method, ctx.Err())
	}
}

// Call sends a request and returns its result; an error response comes back as *RPCError.
// params are marshalled as they are (a json.RawMessage is sent verbatim).
func (c *Client) Call(ctx context.Context, method string, params any) (json.RawMessage, error) {
	raw, err := json.Marshal(params)
	if err != nil {
		return nil, fmt.Errorf("%s: encode params: %w", method, err)
	}
	resp, err := c.CallRaw(ctx, method, raw)
	if err != nil {
		return nil, err
	}
	if resp.Error != nil {
		return nil, resp.Error
	}
	return resp.Result, nil
}

// Notify sends a request without id (§2.1): no success response is expected.
func (c *Client) Notify(ctx context.Context, method string, params any) error {
	raw, err := json.Marshal(params)
	if err != nil {
		return fmt.Errorf("%s: encode params: %w", method, err)
	}
	frame, err := json.Marshal(protocol.Request{JSONRPC: protocol.Version, Method: method, Params: raw})
	if err != nil {
		return err
	}
	return c.Send(ctx, frame)
}
