package client

import "testing"

// Once cancel has returned, nothing queued is handed out: out is closed. The pump may hold an
// item ready to hand out when cancel comes; a receive after cancel must not get it.
func TestQueueCancelDropsWhatIsQueued(t *testing.T) {
	for i := range 2000 {
		q := newQueue[int]()
		q.push(1)
		q.push(2)
		q.cancel()
		if v, ok := <-q.out; ok {
			t.Fatalf("run %d: Expected: out closed at cancel / Actual: got %d", i, v)
		}
	}
}
