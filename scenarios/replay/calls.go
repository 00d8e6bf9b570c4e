package replay

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"sync/atomic"

	"github.com/gobwas/ws"
	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// The generator's requests (§2.2) and their answers: a call is written with a fresh id and
// its reply put in a slot of an answers, whose waiter wakes once, when the last of the calls
// written together is answered.

// reply is a response to a call: result bytes (copied), an error object, or the connection's end.
type reply struct {
	result []byte
	rpcErr *protocol.Error
	err    error
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

func (a *answers) put(i int, r reply, u *wakeups) {
	a.replies[i] = r
	a.tick(u)
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

func (c *countdown) tick(u *wakeups) {
	if c.left.Add(-1) == 0 {
		u.close(c.done)
	}
}

// wakeups holds what the frames of one poller harvest set going — the sends of sessions whose
// members got their inputs (step), the drivers waiting for answers or events (close) — and
// gives it when the harvest is handled: the members of a session typically get their inputs
// from frames that arrive together, on several connections, and are then stepped once, not
// once per member (and a driver woken once: a wake-up is a park, a hand-off and often a thread
// woken on the other CPU). Only the poller's goroutine uses its wakeups; nil (connections with
// a reader goroutine of their own) gives at once.
type wakeups struct {
	closes []chan struct{}
	steps  []*run
}

// step has r's members whose inputs are in send their messages: on the poller, once the
// harvest is handled; without a poller (a reader goroutine, which must not wait on a socket
// either), by r's driver.
func (u *wakeups) step(r *run) {
	if u == nil {
		signal(r.wake)
		return
	}
	if len(u.steps) == 0 || u.steps[len(u.steps)-1] != r {
		u.steps = append(u.steps, r)
	}
}

// close closes c, now or at the end of the harvest.
func (u *wakeups) close(c chan struct{}) {
	if u == nil {
		close(c)
		return
	}
	u.closes = append(u.closes, c)
}

// signal signals c, a buffer of one: a signal already pending is enough.
func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// give gives the wake-ups held.
func (u *wakeups) give() {
	for _, r := range u.steps {
		if _, err := r.step(true); err != nil {
			signal(r.wake) // the driver sends, or reports the failed write
		}
	}
	clear(u.steps)
	u.steps = u.steps[:0]
	for _, c := range u.closes {
		close(c)
	}
	clear(u.closes)
	u.closes = u.closes[:0]
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
