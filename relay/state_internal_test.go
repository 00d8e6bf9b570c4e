package relay

import (
	"context"
	"encoding/json"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"mpcrelay/relay/protocol"
)

// testConn is a connection without a socket: dispatch queues its frames (no writer runs),
// the test takes them with pop.
func testConn(s *Server, id uint64) *conn {
	return &conn{id: id, srv: s, wrote: make(chan struct{}, 1), readDone: make(chan struct{})}
}

// pop takes the oldest queued frame of c.
func (c *conn) pop() (outFrame, bool) {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	if len(c.queue) == 0 {
		return outFrame{}, false
	}
	f := c.queue[0]
	c.queue = c.queue[1:]
	c.queued -= int64(len(f.data))
	return f, true
}

// request runs one request of c and returns the frame answering it (nil for a notification).
func request(t *testing.T, s *Server, c *conn, id uint64, method string, params any) protocol.Incoming {
	t.Helper()
	frame, err := protocol.NewRequest(id, method, params)
	if err != nil {
		t.Fatal(err)
	}
	s.dispatch(c, frame)
	for {
		f, ok := c.pop()
		if !ok {
			t.Fatalf("%s: no answer queued", method)
		}
		in, err := protocol.DecodeIncoming(f.data)
		if err != nil {
			t.Fatal(err)
		}
		if !in.IsEvent() {
			return in
		}
	}
}

func newTestServer(t *testing.T) *Server {
	t.Helper()
	s, err := New(DefaultConfig())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	return s
}

func createGroupOf(t *testing.T, s *Server, c *conn) uuid.UUID {
	t.Helper()
	in := request(t, s, c, 1, protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: "g", Params: protocol.Parameters{Parties: 2, Threshold: 1}})
	var id uuid.UUID
	if in.Error != nil || json.Unmarshal(in.Result, &id) != nil {
		t.Fatalf("Group.create: %+v", in)
	}
	return id
}

// No lock spans the relay (doc.go): while one group is locked, as by a request in flight, a
// request on another group is answered, and a request on the locked group waits for it.
func TestGroupsDoNotShareALock(t *testing.T) {
	s := newTestServer(t)
	a, b := testConn(s, 1), testConn(s, 2)
	ga, gb := createGroupOf(t, s, a), createGroupOf(t, s, b)

	locked := s.groups.get(ga)
	locked.mu.Lock()
	other := make(chan protocol.Incoming, 1)
	go func() {
		frame, _ := protocol.NewRequest(2, protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: gb, Kind: protocol.KindSign})
		s.dispatch(b, frame)
		f, _ := b.pop()
		in, _ := protocol.DecodeIncoming(f.data)
		other <- in
	}()
	select {
	case in := <-other:
		if in.Error != nil {
			t.Fatalf("Expected: Session.create on the other group answered / Actual: %+v", in.Error)
		}
	case <-time.After(5 * time.Second):
		locked.mu.Unlock()
		t.Fatal("Expected: a request on another group is answered / Actual: it waited for the locked group")
	}

	same := make(chan struct{})
	go func() {
		frame, _ := protocol.NewRequest(2, protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: ga, Kind: protocol.KindSign})
		s.dispatch(a, frame)
		close(same)
	}()
	select {
	case <-same:
		t.Fatal("Expected: a request on the locked group waits / Actual: it ran")
	case <-time.After(50 * time.Millisecond):
	}
	locked.mu.Unlock()
	<-same
}

// Many groups run whole sessions at once while idle expiry deletes state under them and
// connections leave: nothing panics, nothing races (go test -race), and when every connection
// has left, the table, the session count and the gauges are back to zero.
func TestConcurrentGroupsLeaveNoState(t *testing.T) {
	s := newTestServer(t)
	const groups = 40
	stop := make(chan struct{})
	var expiry sync.WaitGroup
	expiry.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				s.expire(time.Now().Add(s.cfg.IdleExpiry + time.Hour)) // everything counts as idle
				time.Sleep(time.Millisecond)
			}
		}
	})
	var wg sync.WaitGroup
	for i := range groups {
		wg.Go(func() {
			c1, c2 := testConn(s, uint64(2*i+1)), testConn(s, uint64(2*i+2))
			// call runs a request and returns its answer; events queued meanwhile are dropped.
			call := func(c *conn, method string, params any) (in protocol.Incoming) {
				frame, err := protocol.NewRequest(1, method, params)
				if err != nil {
					panic(err)
				}
				s.dispatch(c, frame)
				for f, ok := c.pop(); ok; f, ok = c.pop() {
					if d, _ := protocol.DecodeIncoming(f.data); !d.IsEvent() {
						in = d
					}
				}
				return in
			}
			var gid, sid uuid.UUID
			_ = json.Unmarshal(call(c1, protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: fmt.Sprint(i), Params: protocol.Parameters{Parties: 2, Threshold: 1}}).Result, &gid)
			call(c2, protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: gid})
			var sess protocol.Session
			_ = json.Unmarshal(call(c1, protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: gid, Kind: protocol.KindKeygen}).Result, &sess)
			sid = sess.UUID // zero when expiry won the race: the rules answer either way
			for n, c := range []*conn{c1, c2} {
				call(c, protocol.MethodSessionSignup, protocol.SessionParams{GroupID: gid, SessionID: sid, Kind: protocol.KindKeygen})
				for range 20 {
					call(c, protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: gid, SessionID: sid, Kind: protocol.KindKeygen,
						Message: protocol.Message{Round: 1, Sender: uint16(n + 1), UUID: sid, Body: json.RawMessage(`"x"`)}})
				}
				call(c, protocol.MethodNotifyProposal, protocol.NotifyProposalParams{GroupID: gid, SessionID: sid, ProposalID: "p", Message: "m"})
				call(c, protocol.MethodSessionFinish, protocol.SessionFinishParams{GroupID: gid, SessionID: sid, Number: uint16(n + 1)})
			}
			s.unregister(c1)
			s.unregister(c2)
		})
	}
	wg.Wait()
	close(stop)
	expiry.Wait()
	if n := len(s.groups.all()); n != 0 {
		t.Fatalf("groups in the table: Expected: 0 / Actual: %d", n)
	}
	if n := s.sessionCount.Load(); n != 0 {
		t.Fatalf("session count: Expected: 0 / Actual: %d", n)
	}
	if g, ss := testutil.ToFloat64(s.metrics.groups), testutil.ToFloat64(s.metrics.sessions); g != 0 || ss != 0 {
		t.Fatalf("gauges groups, sessions: Expected: 0, 0 / Actual: %v, %v", g, ss)
	}
	if p := testutil.ToFloat64(s.metrics.panics); p != 0 {
		t.Fatalf("panics: Expected: 0 / Actual: %v", p)
	}
}
