package client

import "sync"

// queue is an unbounded FIFO drained into a channel by its own goroutine, so the connection's
// reader never blocks on a slow consumer. Memory is bounded by what the relay sends.
type queue[T any] struct {
	mu     sync.Mutex
	items  []T
	ended  bool          // no more pushes; out closes once drained
	wake   chan struct{} // cap 1: an item arrived or the queue ended
	stop   chan struct{} // consumer gone: drop everything
	done   chan struct{} // closed once pump has returned (out is closed)
	out    chan T
	closer sync.Once
}

func newQueue[T any]() *queue[T] {
	q := &queue[T]{wake: make(chan struct{}, 1), stop: make(chan struct{}), done: make(chan struct{}), out: make(chan T)}
	go q.pump()
	return q
}

func (q *queue[T]) push(v T) {
	q.mu.Lock()
	if !q.ended {
		q.items = append(q.items, v)
	}
	q.mu.Unlock()
	q.signal()
}

// end lets the consumer drain what is queued, then closes out.
func (q *queue[T]) end() {
	q.mu.Lock()
	q.ended = true
	q.mu.Unlock()
	q.signal()
}

// cancel drops what is queued and closes out at once: when it returns, out is closed. Not
// just signalled: a pump about to offer an item would find both the offer and stop ready, and
// a receive after cancel could still get the item (select picks at random).
func (q *queue[T]) cancel() {
	q.closer.Do(func() { close(q.stop) })
	<-q.done
}

func (q *queue[T]) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

func (q *queue[T]) pump() {
	defer close(q.done)
	defer close(q.out)
	for {
		q.mu.Lock()
		if len(q.items) > 0 {
			v := q.items[0]
			var zero T
			q.items[0] = zero
			q.items = q.items[1:]
			q.mu.Unlock()
			select {
			case q.out <- v:
			case <-q.stop:
				return
			}
			continue
		}
		ended := q.ended
		q.mu.Unlock()
		if ended {
			return
		}
		select {
		case <-q.wake:
		case <-q.stop:
			return
		}
	}
}
