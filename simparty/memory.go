package simparty

import (
	"context"
	"fmt"
	"sync"

	"mpcrelay/relay/protocol"
)

// memRouter is the in-memory stand-in for a relay session: the routing loop of tss-lib's
// local_party_test, with one unbounded inbox per party so that a slow party never blocks a fast
// one (as the relay's queues do not). It routes protocol.Message values with their JSON bodies, so
// the only thing a relay adds on top of it is the relay: sockets, framing, the server.
type memRouter struct {
	inboxes map[uint16]*inbox
}

type inbox struct {
	mu     sync.Mutex
	items  []protocol.Message
	signal chan struct{} // capacity 1: "items is not empty"
}

func newMemRouter(numbers []uint16) *memRouter {
	r := &memRouter{inboxes: make(map[uint16]*inbox, len(numbers))}
	for _, n := range numbers {
		r.inboxes[n] = &inbox{signal: make(chan struct{}, 1)}
	}
	return r
}

func (r *memRouter) link(self uint16) Link { return &memLink{r: r, self: self} }

func (b *inbox) push(m protocol.Message) {
	b.mu.Lock()
	b.items = append(b.items, m)
	b.mu.Unlock()
	select {
	case b.signal <- struct{}{}:
	default:
	}
}

type memLink struct {
	r    *memRouter
	self uint16
}

// Send routes like §4.7: to the receiver only, or to every party but the sender.
func (l *memLink) Send(ctx context.Context, m protocol.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.Receiver != nil {
		b, ok := l.r.inboxes[*m.Receiver]
		if !ok {
			return protocol.ErrReceiverNotFound(*m.Receiver)
		}
		b.push(m)
		return nil
	}
	for n, b := range l.r.inboxes {
		if n != l.self {
			b.push(m)
		}
	}
	return nil
}

func (l *memLink) Next(ctx context.Context) (protocol.Message, error) {
	b, ok := l.r.inboxes[l.self]
	if !ok {
		return protocol.Message{}, fmt.Errorf("party %d has no inbox", l.self)
	}
	for {
		b.mu.Lock()
		if len(b.items) > 0 {
			m := b.items[0]
			b.items = b.items[1:]
			if len(b.items) > 0 {
				select {
				case b.signal <- struct{}{}:
				default:
				}
			}
			b.mu.Unlock()
			return m, nil
		}
		b.mu.Unlock()
		select {
		case <-b.signal:
		case <-ctx.Done():
			return protocol.Message{}, ctx.Err()
		}
	}
}
