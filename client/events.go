package client

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// Event is a server push (§2.4) as it arrived.
type Event struct {
	Name    string
	Payload json.RawMessage
	Raw     []byte
	At      time.Time
}

// SessionID is the session an event concerns, when its payload names one.
func (e Event) SessionID() (uuid.UUID, bool) {
	switch e.Name {
	case protocol.EventSessionSignup, protocol.EventSessionLoad:
		id, err := e.AsUUID()
		return id, err == nil
	case protocol.EventSessionCreate:
		s, err := e.AsSession()
		return s.UUID, err == nil
	case protocol.EventSessionMessage:
		m, err := e.AsMessage()
		return m.UUID, err == nil
	case protocol.EventNotifyProposal:
		p, err := e.AsProposal()
		if err != nil {
			return uuid.Nil, false
		}
		id, err := uuid.Parse(p.SessionID)
		return id, err == nil
	}
	return uuid.Nil, false
}

func (e Event) decode(want string, v any) error {
	if e.Name != want {
		return fmt.Errorf("event %s is not %s", e.Name, want)
	}
	if err := json.Unmarshal(e.Payload, v); err != nil {
		return fmt.Errorf("%s payload %s: %w", e.Name, e.Payload, err)
	}
	return nil
}

// AsSession decodes a sessionCreate payload (§4.3).
func (e Event) AsSession() (s protocol.Session, err error) {
	return s, e.decode(protocol.EventSessionCreate, &s)
}

// AsUUID decodes a sessionSignup or sessionLoad payload (§4.5, §4.6).
func (e Event) AsUUID() (uuid.UUID, error) {
	if e.Name != protocol.EventSessionSignup && e.Name != protocol.EventSessionLoad {
		return uuid.Nil, fmt.Errorf("event %s carries no session uuid", e.Name)
	}
	var id uuid.UUID
	if err := json.Unmarshal(e.Payload, &id); err != nil {
		return uuid.Nil, fmt.Errorf("%s payload %s: %w", e.Name, e.Payload, err)
	}
	return id, nil
}

// AsMessage decodes a sessionMessage payload (§4.7).
func (e Event) AsMessage() (m protocol.Message, err error) {
	return m, e.decode(protocol.EventSessionMessage, &m)
}

// AsParties decodes a sessionClosed payload (§4.8).
func (e Event) AsParties() (p []uint16, err error) {
	return p, e.decode(protocol.EventSessionClosed, &p)
}

// AsProposal decodes a notifyProposal payload (§4.9).
func (e Event) AsProposal() (p protocol.Proposal, err error) {
	return p, e.decode(protocol.EventNotifyProposal, &p)
}

// Filter selects events. The zero Filter selects every event.
type Filter struct {
	Names   []string  // empty: any name
	Session uuid.UUID // uuid.Nil: any session; otherwise events whose SessionID matches
}

func (f Filter) match(e Event) bool {
	if len(f.Names) > 0 && !slices.Contains(f.Names, e.Name) {
		return false
	}
	if f.Session != uuid.Nil {
		id, ok := e.SessionID()
		return ok && id == f.Session
	}
	return true
}

// Subscription receives the matching events that arrive after Subscribe returned, in order,
// through an unbounded queue.
type Subscription struct {
	c      *Client
	filter Filter
	q      *queue[Event]
}

// Subscribe starts a subscription; Close it when done.
func (c *Client) Subscribe(f Filter) *Subscription {
	s := &Subscription{c: c, filter: f, q: newQueue[Event]()}
	c.mu.Lock()
	if c.err != nil {
		s.q.end()
	} else {
		c.subs[s] = struct{}{}
	}
	c.mu.Unlock()
	return s
}

// C delivers the events; it closes after Close, or when the connection ended and all is drained.
func (s *Subscription) C() <-chan Event { return s.q.out }

// Next waits for the next event.
func (s *Subscription) Next(ctx context.Context) (Event, error) {
	select {
	case ev, ok := <-s.q.out:
		if !ok {
			return Event{}, fmt.Errorf("waiting for %s: %w", s.describe(), s.c.closedErr())
		}
		return ev, nil
	case <-ctx.Done():
		return Event{}, fmt.Errorf("waiting for %s: %w", s.describe(), ctx.Err())
	}
}

func (s *Subscription) describe() string {
	what := "an event"
	if len(s.filter.Names) > 0 {
		what = fmt.Sprint(s.filter.Names)
	}
	if s.filter.Session != uuid.Nil {
		what += " of session " + s.filter.Session.String()
	}
	return what
}

// Close ends the subscription and drops what it had queued.
func (s *Subscription) Close() {
	s.c.mu.Lock()
	delete(s.c.subs, s)
	s.c.mu.Unlock()
	s.q.cancel()
}

func (c *Client) publish(e Event) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for s := range c.subs {
		if s.filter.match(e) {
			s.q.push(e)
		}
	}
}

// Await subscribes, runs trigger (a call that causes the event), and waits for the first
// matching event. Subscribing first means an event that races the response is not missed.
func (c *Client) Await(ctx context.Context, f Filter, trigger func() error) (Event, error) {
	s := c.Subscribe(f)
	defer s.Close()
	if trigger != nil {
		if err := trigger(); err != nil {
			return Event{}, err
		}
	}
	return s.Next(ctx)
}
