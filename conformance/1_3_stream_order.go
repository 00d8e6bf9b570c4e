package conformance

import (
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"mpcrelay/client"
	"mpcrelay/relay/protocol"
)

// streamLength is how many messages each sender of the volume case sends: enough that a relay
// which misorders, drops or alters one frame in a few hundred is caught.
const streamLength = 240

func init() {
	register("1.3", "Ordering",
		// §1.3: A relay ... writes to one connection in the order it produced the frames; with
		// §4.7 every message reaches its receivers once and unchanged.
		&Case{
			ID: "1.3/stream-order-under-volume",
			Requirement: fmt.Sprintf("With three parties streaming %d messages each at once, pipelined (A broadcasts, B to C, C to A), "+
				"every receiver gets each sender's messages once, unchanged and in send order.", streamLength),
			Level: Must, Labels: []string{"ordering", "routing", "slow"},
			Run: func(t *T) {
				s := t.ReadyKeygen(3, 1)
				a, b, c := s.Parties[0], s.Parties[1], s.Parties[2]
				streams := []stream{
					{from: a, to: nil},
					{from: b, to: c},
					{from: c, to: a},
				}
				var wg sync.WaitGroup
				errs := make([]error, len(streams))
				for i := range streams {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[i] = streams[i].send(t, s)
					}()
				}
				wg.Wait()
				for i, err := range errs {
					if err != nil {
						t.Failf(fmt.Sprintf("%s's %d messages accepted in order", streams[i].from.Name, streamLength), "%v", err)
					}
				}
				// what each connection must receive: every stream that reaches it, whole
				expect := map[*Conn][]*stream{}
				for i := range streams {
					st := &streams[i]
					for _, r := range s.Parties {
						if r != st.from && (st.to == nil || st.to == r) {
							expect[r] = append(expect[r], st)
						}
					}
				}
				for _, r := range s.Parties {
					want := 0
					for _, st := range expect[r] {
						want += st.len()
					}
					got := awaitMessages(t, r, s.ID, want)
					checkStreams(t, s, r, expect[r], got)
				}
				t.CheckNoEvent(protocol.EventSessionMessage, uuid.Nil, s.Parties...)
			},
		},
		// §1.3 and §6.2: a party that only listens (a round where the others speak) reads all
		// the while; a relay that takes a connection silent for some hundred frames for a dead
		// one drops it mid-round. The sender's windows keep every queue short, so a relay that
		// bounds queues (and drops clients that do not read) has no reason to drop anyone.
		&Case{
			ID: "1.3/quiet-receivers-get-a-long-stream",
			Requirement: fmt.Sprintf("Two parties that read but send nothing receive all %d broadcasts of a third, pipelined, once, unchanged and in send order, "+
				"and stay connected.", quietStreamLength),
			Level: Must, Labels: []string{"ordering", "routing", "robustness"},
			Run: func(t *T) {
				s := t.ReadyKeygen(3, 1)
				a := s.Parties[0]
				st := &stream{from: a, length: quietStreamLength}
				if err := st.send(t, s); err != nil {
					t.Failf(fmt.Sprintf("A's %d messages accepted in order", st.len()), "%v", err)
				}
				for _, r := range s.Parties[1:] {
					checkStreams(t, s, r, []*stream{st}, awaitMessages(t, r, s.ID, st.len()))
				}
				for _, r := range s.Parties[1:] {
					r.ExpectUsable()
				}
			},
		},
	)
}

// quietStreamLength is the run of the quiet-receivers case: more than the 256 frames at which
// relays commonly bound (or once bounded) a connection's queue.
const quietStreamLength = 400

// stream is one sender's run of messages, to one receiver or (to == nil) broadcast.
type stream struct {
	from, to *Conn
	length   int // messages in the run; 0 means streamLength
}

// len is the number of messages in the run.
func (st *stream) len() int {
	if st.length == 0 {
		return streamLength
	}
	return st.length
}

// body of message seq of the stream: its position, and padding that makes each body distinct,
// so that a body altered or swapped is seen.
func (st *stream) body(s *Session, seq int) json.RawMessage {
	return mustJSON(map[string]any{"seq": seq, "from": st.from.Name, "pad": fmt.Sprintf("%s-%04d-%s", st.from.Name, seq, strings.Repeat("ab", 48))})
}

func (st *stream) message(s *Session, seq int) protocol.Message {
	m := protocol.Message{Round: uint16(1 + seq/40), Sender: s.Number[st.from], UUID: s.ID, Body: st.body(s, seq)}
	if st.to != nil {
		m.Receiver = protocol.Receiver(s.Number[st.to])
	}
	return m
}

// streamWindow is how many requests a sender has in flight: enough to pipeline, few enough that
// no receiver's outbound queue — which a relay may bound and enforce by dropping the client
// (the reference relay once did, at 256 frames) — fills up with what three senders produce for
// it at once.
const streamWindow = 24

// send writes the stream in windows of pipelined requests (the relay must answer them in order,
// §1.3) and collects each window's responses before the next. It runs on its own goroutine: it
// returns an error instead of failing the case.
func (st *stream) send(t *T, s *Session) error {
	for from := 0; from < st.len(); from += streamWindow {
		n := min(streamWindow, st.len()-from)
		if err := st.sendWindow(t, s, from, n); err != nil {
			return err
		}
	}
	return nil
}

func (st *stream) sendWindow(t *T, s *Session, from, n int) error {
	ctx, cancel := t.ctxTimeout()
	defer cancel()
	first := st.from.NextID()
	for seq := from; seq < from+n; seq++ {
		id := first
		if seq > from {
			id = st.from.NextID()
		}
		frame, err := protocol.NewRequest(id, protocol.MethodSessionMessage, protocol.SessionMessageParams{
			GroupID: s.G.ID, SessionID: s.ID, Kind: s.Kind, Message: st.message(s, seq)})
		if err != nil {
			return err
		}
		if err := st.from.Send(ctx, frame); err != nil {
			return fmt.Errorf("write of message %d: %v (connection %s)", seq, err, st.from.closedErr())
		}
	}
	// the responses answer no pending call, so they arrive as unmatched frames, in request order
	for i := 0; i < n; i++ {
		var f client.Frame
		select {
		case f = <-st.from.Unmatched():
		case <-ctx.Done():
			return fmt.Errorf("responses to messages %d-%d: %d within %s (connection %s)", from, from+n-1, i, t.cfg.Timeout, st.from.closedErr())
		}
		in, err := protocol.DecodeIncoming(f.Data)
		if err != nil || in.Error != nil {
			return fmt.Errorf("response to message %d: %s", from+i, short(json.RawMessage(f.Data)))
		}
		if id, ok := in.IDNumber(); !ok || uint64(id) != first+uint64(i) {
			return fmt.Errorf("response %d of the window answers id %s, expected %d (responses out of request order)", i, in.ID, first+uint64(i))
		}
	}
	return nil
}

// awaitMessages waits until r holds n unconsumed sessionMessage events of session (or no new one
// came for a whole timeout) and consumes them, in arrival order.
func awaitMessages(t *T, r *Conn, session uuid.UUID, n int) []client.Event {
	last, since := -1, time.Now()
	for {
		have := len(r.Pending(protocol.EventSessionMessage, session))
		if have >= n {
			break
		}
		if have != last {
			last, since = have, time.Now()
		}
		if time.Since(since) > t.cfg.Timeout {
			break // judged below: what is missing is named there
		}
		select {
		case <-r.arrived:
		case <-time.After(20 * time.Millisecond):
		case <-t.ctx.Done():
			t.HarnessError("case ended while waiting for messages: %v", t.ctx.Err())
		}
	}
	var out []client.Event
	for range n {
		ev, ok := r.take(protocol.EventSessionMessage, session)
		if !ok {
			break
		}
		out = append(out, ev)
	}
	return out
}

// checkStreams checks that r received each expected stream whole, once, unchanged, in order.
func checkStreams(t *T, s *Session, r *Conn, want []*stream, got []client.Event) {
	next := map[uint16]int{} // sender number → next seq expected
	bySender := map[uint16]*stream{}
	for _, st := range want {
		bySender[s.Number[st.from]] = st
	}
	for i, ev := range got {
		m, err := ev.AsMessage()
		if err != nil {
			t.Failf("a message object as sessionMessage payload", "message %d on %s: %s (%v)", i, r.Name, short(ev.Payload), err)
		}
		st := bySender[m.Sender]
		if st == nil {
			t.Failf(fmt.Sprintf("messages on %s only from %s", r.Name, senders(want)), "message %d from party %d: %s", i, m.Sender, short(ev.Payload))
		}
		var seen struct {
			Seq *int `json:"seq"`
		}
		_ = json.Unmarshal(m.Body, &seen)
		seq := next[m.Sender]
		if seen.Seq != nil && *seen.Seq != seq {
			switch {
			case *seen.Seq > seq:
				t.Failf(fmt.Sprintf("%s's message %d next on %s (send order, §1.3)", st.from.Name, seq, r.Name),
					"message %d arrived instead (arrival #%d on %s): message %d lost or overtaken", *seen.Seq, i, r.Name, seq)
			default:
				t.Failf(fmt.Sprintf("%s's message %d next on %s (send order, each once)", st.from.Name, seq, r.Name),
					"message %d again or late (arrival #%d)", *seen.Seq, i)
			}
		}
		wm := st.message(s, seq)
		if m.Round != wm.Round || m.UUID != wm.UUID || fmtReceiver(m.Receiver) != fmtReceiver(wm.Receiver) {
			t.Failf(fmt.Sprintf("%s's message %d on %s with round %d, receiver %s, uuid %s", st.from.Name, seq, r.Name, wm.Round, fmtReceiver(wm.Receiver), wm.UUID),
				"round %d, receiver %s, uuid %s", m.Round, fmtReceiver(m.Receiver), m.UUID)
		}
		if ok, why := equalJSON(wm.Body, m.Body); !ok {
			t.Failf(fmt.Sprintf("%s's message %d on %s with its body unchanged", st.from.Name, seq, r.Name), "%s (%s)", short(m.Body), why)
		}
		next[m.Sender] = seq + 1
	}
	for _, st := range want {
		if n := next[s.Number[st.from]]; n != st.len() {
			t.Failf(fmt.Sprintf("all %d of %s's messages on %s", st.len(), st.from.Name, r.Name), "%d arrived in order, then none within %s", n, t.cfg.Timeout)
		}
	}
}

func senders(sts []*stream) string {
	var names []string
	for _, st := range sts {
		names = append(names, st.from.Name)
	}
	return strings.Join(names, ", ")
}
