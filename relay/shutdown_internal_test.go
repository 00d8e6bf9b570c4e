package relay

import (
	"context"
	"testing"
	"time"

	"mpcrelay/relay/protocol"
)

// Shutdown stops every connection from starting a request before it waits for the requests in
// flight. Waiting for one connection's slow request (a forwarded request may take up to the
// write wait) must not let the connections it has not come to yet go on starting new ones:
// halting them one after another, the wait grew by up to a write wait per connection.
func TestShutdownHaltsEveryConnectionBeforeWaiting(t *testing.T) {
	s := newTestServer(t)
	slow := testConn(s, 1)
	g := createGroupOf(t, s, slow)
	others := make([]*conn, 100)
	s.connsMu.Lock()
	s.conns[slow] = struct{}{}
	for i := range others {
		others[i] = testConn(s, uint64(i+2))
		s.conns[others[i]] = struct{}{}
	}
	s.connsMu.Unlock()

	held := s.groups.get(g)
	held.mu.Lock() // slow's request waits for the group, as one waits for another node
	inFlight := make(chan struct{})
	go func() {
		frame, _ := protocol.NewRequest(2, protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: g, Kind: protocol.KindSign})
		slow.run(frame)
		close(inFlight)
	}()
	for slow.reqMu.TryLock() { // until slow's request runs
		slow.reqMu.Unlock()
		time.Sleep(time.Millisecond)
	}
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	deadline := time.Now().Add(5 * time.Second)
	for halted := 0; halted < len(others); time.Sleep(time.Millisecond) {
		halted = 0
		for _, c := range others {
			if c.halted.Load() {
				halted++
			}
		}
		if time.Now().After(deadline) {
			held.mu.Unlock()
			t.Fatalf("Expected: every connection halted while Shutdown waits for the request in flight / Actual: %d of %d", halted, len(others))
		}
	}
	select {
	case err := <-done:
		t.Fatalf("Expected: Shutdown waits for the request in flight / Actual: it returned (%v)", err)
	default:
	}

	create, _ := protocol.NewRequest(1, protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: "late", Params: protocol.Parameters{Parties: 2, Threshold: 1}})
	ran := 0
	for _, c := range others {
		c.run(create)
		if _, ok := c.pop(); ok {
			ran++
		}
	}
	held.mu.Unlock()
	<-inFlight
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ran > 0 {
		t.Fatalf("Expected: no connection starts a request once Shutdown waits for one in flight / Actual: %d of %d did", ran, len(others))
	}
}
