package conformance

import (
	"context"
	"errors"
	"fmt"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/onsi/gomega"

	"mpcrelay/client"
)

// Config holds the knobs every case reads.
type Config struct {
	Timeout     time.Duration // how long to wait for a response or an expected event
	QuietWindow time.Duration // how long a negative check ("no event arrives") waits
}

// T is the context of one running case: its target, its connections, its transcript, and the
// verifiers that end it with an outcome.
type T struct {
	ctx    context.Context
	url    string   // the first node: cases that need one URL (simparty flows) use it
	nodes  []string // the target's nodes; connections are dialled on them in turn
	dials  int      // connections dialled so far (guarded by mu)
	cfg    Config
	c      *Case
	tr     *Transcript
	g      gomega.Gomega
	mu     sync.Mutex
	conns  []*Conn
	replay string   // the conform flags that select this target (for replay commands)
	notes  []string // INFO: behaviours the relay chose
	devs   []string // SHOULD/COMPAT deviations
	nextID int

	embedded bool     // the target is the kit's embedded reference relay (Target.Embedded)
	cleanups []func() // run when the case ends, last first
}

// abort ends a case early; recovered by T.run.
type abort struct {
	outcome Outcome
	detail  string
}

func newT(ctx context.Context, target Target, cfg Config, c *Case) *T {
	t := &T{ctx: ctx, url: target.URL, nodes: target.urls(), replay: target.Replay, embedded: target.Embedded,
		cfg: cfg, c: c, tr: newTranscript()}
	t.g = gomega.NewGomega(func(message string, _ ...int) { t.fail(message) })
	return t
}

// Context is the case's context; it ends when the case times out.
func (t *T) Context() context.Context { return t.ctx }

// Config returns the timeouts of the run.
func (t *T) Config() Config { return t.cfg }

// Expect is Gomega's Expect bound to this case: a failed assertion fails the case (with the
// transcript attached).
func (t *T) Expect(actual any, extra ...any) gomega.Assertion { return t.g.Expect(actual, extra...) }

// Eventually is Gomega's Eventually bound to this case.
func (t *T) Eventually(actual any, intervals ...any) gomega.AsyncAssertion {
	return t.g.Eventually(actual, intervals...)
}

// Logf adds a note to the transcript.
func (t *T) Logf(format string, args ...any) { t.tr.note(format, args...) }

// Failf ends the case: the requirement is not met. A SHOULD or COMPAT case ends non-strict.
func (t *T) Failf(expected, actualFormat string, args ...any) {
	t.fail(fmt.Sprintf("Expected: %s\nActual:   %s", expected, fmt.Sprintf(actualFormat, args...)))
}

func (t *T) fail(message string) {
	out := Fail
	if t.c.Level != Must {
		out = NonStrict
	}
	panic(abort{outcome: out, detail: message})
}

// HarnessError ends the case with outcome error: the harness could not run it (not the relay's
// fault as far as the harness can tell — e.g. a dial failed).
func (t *T) HarnessError(format string, args ...any) {
	panic(abort{outcome: Error, detail: "harness: " + fmt.Sprintf(format, args...)})
}

// ended ends, with outcome error, a case whose context ended (its time bound passed, or the
// run was interrupted) while it waited since `since` for what: the detail names the wait and
// both durations, so an error is never just "context deadline exceeded".
func (t *T) ended(what string, since time.Time) {
	t.HarnessError("case ended (%v) %s into its bound of %s, while waiting %s for %s",
		context.Cause(t.ctx), time.Since(t.tr.start).Round(time.Millisecond), caseTimeout(t.c, t.cfg),
		time.Since(since).Round(time.Millisecond), what)
}

// Skip ends the case as skipped.
func (t *T) Skip(format string, args ...any) {
	panic(abort{outcome: Skipped, detail: fmt.Sprintf(format, args...)})
}

// Info records which of the allowed behaviours the relay chose (outcome info unless something
// else is recorded).
func (t *T) Info(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	t.tr.note("info: %s", msg)
	t.mu.Lock()
	t.notes = append(t.notes, msg)
	t.mu.Unlock()
}

// NonStrict records a SHOULD not met or a COMPAT behaviour; the case goes on, and ends
// non-strict unless it fails.
func (t *T) NonStrict(format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	t.tr.note("non-strict: %s", msg)
	t.mu.Lock()
	t.devs = append(t.devs, msg)
	t.mu.Unlock()
}

// run executes the case body and returns its outcome and detail.
func (t *T) run() (out Outcome, detail string) {
	defer t.runCleanups()
	defer t.closeAll()
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if a, ok := r.(abort); ok {
			out, detail = a.outcome, a.detail
			return
		}
		out, detail = Error, fmt.Sprintf("harness: case panicked: %v\n%s", r, debug.Stack())
	}()
	t.c.Run(t)
	switch {
	case len(t.devs) > 0:
		return NonStrict, strings.Join(t.devs, "\n")
	case len(t.notes) > 0 || t.c.Level == Info:
		return InfoOnly, strings.Join(t.notes, "\n")
	}
	return Pass, ""
}

// cleanup registers f to run when the case ends (after its connections are closed).
func (t *T) cleanup(f func()) {
	t.mu.Lock()
	t.cleanups = append(t.cleanups, f)
	t.mu.Unlock()
}

func (t *T) runCleanups() {
	t.mu.Lock()
	fs := t.cleanups
	t.cleanups = nil
	t.mu.Unlock()
	for i := len(fs) - 1; i >= 0; i-- {
		fs[i]()
	}
}

func (t *T) closeAll() {
	t.mu.Lock()
	conns := t.conns
	t.conns = nil
	t.mu.Unlock()
	for _, c := range conns {
		_ = c.Close()
		c.sub.Close()
		c.wg.Wait()
	}
}

// Close closes the connection from the client side (recorded, so that a transcript tells the
// client's closes from the relay's).
func (c *Conn) Close() error {
	c.t.tr.rawEnd(c.Name, "c", time.Now())
	return c.Client.Close()
}

// Dial opens a connection to the target named name ("A", "B", ...) with its frames recorded in
// the transcript. A failed dial is a harness error. On a cluster the connection goes to the
// next node in turn and its name carries the node's number ("B@2").
func (t *T) Dial(name string) *Conn {
	c, err := t.TryDial(name)
	if err != nil {
		t.HarnessError("dial %s: %v", name, err)
	}
	return c
}

// nextNode picks the node of the case's next connection: the nodes in turn, from the first.
// It returns the URL and how transcripts name the connection there.
func (t *T) nextNode(name string) (url, label string) {
	t.mu.Lock()
	i := t.dials % len(t.nodes)
	t.dials++
	t.mu.Unlock()
	if len(t.nodes) == 1 {
		return t.nodes[0], name
	}
	label = fmt.Sprintf("%s@%d", name, i+1)
	t.tr.note("%s is on node %d, %s", label, i+1, t.nodes[i])
	return t.nodes[i], label
}

// TryDial is Dial returning the error (for cases that dial many connections at once).
func (t *T) TryDial(name string, opts ...client.Option) (*Conn, error) {
	ctx, cancel := context.WithTimeout(t.ctx, t.cfg.Timeout+5*time.Second)
	defer cancel()
	url, name := t.nextNode(name)
	c := &Conn{Name: name, t: t, arrived: make(chan struct{}, 1)}
	hook := client.WithFrameHook(func(f client.Frame) {
		dir := "→"
		if f.Dir == client.Received {
			dir = "←"
			c.mu.Lock()
			c.frames = append(c.frames, f)
			c.mu.Unlock()
		}
		t.tr.frame(name, dir, f.Binary, f.Data, f.At)
	})
	opts = append([]client.Option{hook, client.WithCallTimeout(t.cfg.Timeout)}, opts...)
	cl, err := client.Dial(ctx, url, opts...)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", url, err)
	}
	c.Client, c.sub = cl, cl.Subscribe(client.Filter{})
	if t.tr.keepsRaw() {
		go func() { <-cl.Done(); t.tr.rawEnd(name, "x", time.Now()) }()
	}
	c.wg.Add(1)
	go c.collect()
	t.mu.Lock()
	t.conns = append(t.conns, c)
	t.mu.Unlock()
	return c, nil
}

// DialN opens n connections named A, B, C, ...
func (t *T) DialN(n int) []*Conn {
	out := make([]*Conn, n)
	for i := range out {
		out[i] = t.Dial(connName(i))
	}
	return out
}

func connName(i int) string {
	if i < 26 {
		return string(rune('A' + i))
	}
	return fmt.Sprintf("C%d", i)
}

// ctxTimeout is a context bounded by the response timeout.
func (t *T) ctxTimeout() (context.Context, context.CancelFunc) {
	return context.WithTimeout(t.ctx, t.cfg.Timeout)
}

// Label returns a unique group label for this case.
func (t *T) Label() string {
	t.mu.Lock()
	t.nextID++
	n := t.nextID
	t.mu.Unlock()
	return fmt.Sprintf("conformance %s #%d", t.c.ID, n)
}

// Conn is one connection of a case: the client plus a log of every event it received.
type Conn struct {
	*client.Client
	Name string
	t    *T
	sub  *client.Subscription
	wg   sync.WaitGroup

	mu      sync.Mutex
	frames  []client.Frame // every frame received, in order (for ordering checks)
	events  []client.Event
	taken   []bool
	arrived chan struct{}
}

func (c *Conn) collect() {
	defer c.wg.Done()
	for ev := range c.sub.C() {
		c.mu.Lock()
		c.events = append(c.events, ev)
		c.taken = append(c.taken, false)
		c.mu.Unlock()
		select {
		case c.arrived <- struct{}{}:
		default:
		}
	}
}

// isClosed reports whether the connection has ended.
func (c *Conn) isClosed() bool {
	select {
	case <-c.Done():
		return true
	default:
		return false
	}
}

// closedErr is the reason the connection ended, for messages.
func (c *Conn) closedErr() string {
	err := c.Err()
	if err == nil {
		return "open"
	}
	var rpc *client.RPCError
	if errors.As(err, &rpc) {
		return "closed after " + rpc.Error()
	}
	return fmt.Sprintf("closed (%v, close code %d)", err, c.CloseCode())
}
