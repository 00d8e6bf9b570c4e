package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/gobwas/ws"
	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"mpcrelay/client"
	"mpcrelay/relay/protocol"
)

func init() {
	register("6.1", "Connection close",
		// §6.1: a group left with no members is deleted (a later Group.join finds no group).
		&Case{
			ID:          "6.1/empty-group-deleted",
			Requirement: "When the last member of a group disconnects, the group is deleted and a later Group.join is refused with -32603.",
			Level:       Must, Labels: []string{"lifecycle", "group"},
			Run: func(t *T) {
				a := t.Dial("A")
				g := a.CreateGroup(t.Label(), 2, 1)
				_ = a.Close()
				<-a.Done()
				t.Quiet() // the relay notices the close; a join before that would revive the group
				b := t.Dial("B")
				b.ExpectError(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g}, protocol.CodeInternal)
			},
		},
		// §6.1: the group goes when its last member goes, also when its last two members close
		// at the same moment (a relay that reads the count, awaits, then writes it loses one).
		&Case{
			ID:          "6.1/concurrent-closes-delete-group",
			Requirement: fmt.Sprintf("When the two members of a group disconnect at the same moment, the group is deleted and a later Group.join is refused with -32603 (%d groups in turn).", concurrentRounds),
			Level:       Must, Labels: []string{"lifecycle", "group", "concurrency"},
			Run: func(t *T) {
				for i := range concurrentRounds {
					a, b := t.Dial(fmt.Sprintf("A%d", i)), t.Dial(fmt.Sprintf("B%d", i))
					g := a.CreateGroup(t.Label(), 3, 1)
					b.JoinGroup(g)
					_, _ = a.Close(), b.Close()
					<-a.Done()
					<-b.Done()
					t.Quiet() // the relay notices the closes; a join before that would revive the group
					t.Dial(fmt.Sprintf("C%d", i)).ExpectError(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g}, protocol.CodeInternal)
				}
			},
		},
		// §6.1: When a connection closes, the relay removes it from every group.
		&Case{
			ID:          "6.1/closed-member-frees-its-place",
			Requirement: "When a member disconnects, it is removed from the group, so a new connection can take its place in a full group.",
			Level:       Must, Labels: []string{"lifecycle", "group"},
			Run: func(t *T) {
				g := t.NewGroup(2, 1, 2)
				_ = g.Members[1].Close()
				<-g.Members[1].Done()
				waitFor(t, "a new connection joins the group whose second member left", func() (bool, string) {
					c, err := t.TryDial(fmt.Sprintf("C%d", time.Now().UnixNano()%1000))
					if err != nil {
						t.HarnessError("dial: %v", err)
					}
					resp := c.Raw(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g.ID})
					return resp.Error == nil, string(resp.Raw)
				})
			},
		},
		// §6.1: "When a connection closes" — also when its TCP connection is cut without a close
		// frame (a phone losing signal, a killed tab), which a relay that cleans up in its
		// close-frame handler only never notices.
		&Case{
			ID:          "6.1/cut-connection-frees-its-place",
			Requirement: "When a member's TCP connection is cut without a WebSocket close frame, it is removed from the group, so a new connection can take its place in a full group.",
			Level:       Must, Labels: []string{"lifecycle", "group", "websocket"},
			Run: func(t *T) {
				a := t.Dial("A")
				g := a.CreateGroup(t.Label(), 2, 1)
				r := t.DialFrames("R")
				req, _ := protocol.NewRequest(4_000_002, protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g})
				r.Write(ws.OpText, true, req)
				if f := r.Await("the answer to R's Group.join", isResponse(4_000_002)); bytes.Contains(f.Payload, []byte(`"error"`)) {
					t.Failf("R joins the group", "%s", f.Payload)
				}
				r.Cut()
				waitFor(t, "a new connection joins the group whose second member's connection was cut", func() (bool, string) {
					c, err := t.TryDial(fmt.Sprintf("C%d", time.Now().UnixNano()%1000))
					if err != nil {
						t.HarnessError("dial: %v", err)
					}
					resp := c.Raw(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g})
					return resp.Error == nil, string(resp.Raw)
				})
			},
		},
		// §6.1: COMPAT: the original leaves a closed connection's party numbers in its sessions
		// ("events to it are dropped"); §4.7: a message to a number goes to the connection
		// holding it and no one else. Whoever connects later holds none of them.
		&Case{
			ID:          "6.1/departed-party-numbers-reach-no-new-connection",
			Requirement: "After party C of a session disconnects, a connection that arrives next receives none of the messages sent to C's number or broadcast in the session.",
			Level:       Must, Labels: []string{"lifecycle", "routing", "security"},
			Run: func(t *T) {
				s := t.ReadyKeygen(3, 1)
				a, b, c := s.Parties[0], s.Parties[1], s.Parties[2]
				_ = c.Close()
				<-c.Done()
				t.Quiet() // the relay notices the close before the next connection arrives
				d := t.Dial("D")
				d.CreateGroup(t.Label(), 2, 1)
				m := s.msg(s.Number[a], s.Number[c], "to C, who left")
				if resp := a.Raw(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: s.G.ID, SessionID: s.ID, Kind: s.Kind, Message: m}); resp.Error != nil {
					t.Info("a message to a departed party's number refused (its number freed, §6.1): %s", resp.Error)
				}
				bm := s.msg(s.Number[a], 0, "broadcast after C left")
				s.Message(a, bm)
				expectMessage(t, b, s.ID, bm)
				t.ExpectNoEvent(protocol.EventSessionMessage, uuid.Nil, d)
			},
		},
	)
	register("6.2", "Robustness",
		// §6.2: A relay must keep serving every other connection whatever one connection does:
		// sends garbage, sends huge frames, stops reading, disconnects mid-session.
		&Case{
			ID:          "6.2/garbage-does-not-disturb-others",
			Requirement: "A connection sending garbage, binary and huge frames does not disturb a session running on other connections.",
			Level:       Must, Labels: []string{"robustness", "slow"},
			Run: func(t *T) {
				s := t.ReadyKeygen(2, 1)
				x := t.Dial("X")
				ctx, cancel := t.ctxTimeout()
				defer cancel()
				for i := 0; i < 50; i++ {
					_ = x.Send(ctx, []byte(fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":`, i)))
					_ = x.SendBinary(ctx, []byte{0xde, 0xad})
				}
				huge := make([]byte, 24<<20) // above common frame limits: the relay may close X
				for i := range huge {
					huge[i] = 'a'
				}
				_ = x.Send(ctx, huge)
				// the relay has read the huge frame once it closed X or answers X's next request
				// (§1.3: in order); only then does the session's traffic show whether it disturbed others
				pctx, pcancel := t.ctxTimeout()
				_, _ = x.CallRaw(pctx, "Conformance.ping", json.RawMessage(`[]`))
				pcancel()
				exchange(t, s, 5)
			},
		},
		&Case{
			ID:          "6.2/stalled-reader-does-not-block-others",
			Requirement: "A party that stops reading does not stop the relay from serving the other parties of its session.",
			Level:       Must, Labels: []string{"robustness", "slow"},
			Run: func(t *T) {
				s := t.ReadyKeygen(2, 1) // an unrelated session that must keep running
				g := t.NewGroup(3, 1, 2)
				a, b := g.Members[0], g.Members[1]
				stalled := dialRaw(t) // never reads
				defer stalled.Close()
				write := func(format string, args ...any) {
					_ = stalled.SetWriteDeadline(time.Now().Add(t.cfg.Timeout))
					if err := stalled.WriteMessage(websocket.TextMessage, []byte(fmt.Sprintf(format, args...))); err != nil {
						t.HarnessError("stalled connection write: %v", err)
					}
				}
				write(`{"jsonrpc":"2.0","id":1,"method":"Group.join","params":%q}`, g.ID)
				k := g.NewSession(protocol.KindKeygen, nil)
				write(`{"jsonrpc":"2.0","id":2,"method":"Session.signup","params":[%q,%q,"keygen"]}`, g.ID, k.ID)
				k.Signup(a)
				k.Signup(b)
				a.WaitEvent(protocol.EventSessionSignup, k.ID)
				t.Logf("the stalled connection is a party; flooding it with 40 broadcasts of 256 KiB")
				body := bigBody(256 << 10)
				for i := 0; i < 40; i++ {
					resp := a.Raw(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g.ID, SessionID: k.ID, Kind: k.Kind,
						Message: protocol.Message{Round: uint16(i), Sender: k.Number[a], UUID: k.ID, Body: body}})
					if resp.Error != nil {
						break // a relay may refuse once it dropped the stalled party
					}
				}
				exchange(t, s, 5)
			},
		},
		&Case{
			ID:          "6.2/disconnect-mid-session",
			Requirement: "A party disconnecting mid-session does not stop the relay from routing between the remaining parties.",
			Level:       Must, Labels: []string{"robustness", "lifecycle"},
			Run: func(t *T) {
				s := t.ReadyKeygen(3, 1)
				a, b, c := s.Parties[0], s.Parties[1], s.Parties[2]
				_ = c.Close()
				<-c.Done()
				m := s.msg(s.Number[a], 0, "after C left")
				resp := a.Raw(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: s.G.ID, SessionID: s.ID, Kind: s.Kind, Message: m})
				if resp.Error != nil {
					t.Info("broadcast after a party left refused: %s", resp.Error)
					return
				}
				expectMessage(t, b, s.ID, m)
				m2 := s.msg(s.Number[b], s.Number[a], "p2p after C left")
				s.Message(b, m2)
				expectMessage(t, a, s.ID, m2)
			},
		},
		&Case{
			ID:          "6.2/many-concurrent-groups",
			Requirement: "Forty groups running keygen signup and message rounds at the same time all complete, each seeing only its own traffic.",
			Level:       Must, Labels: []string{"robustness", "slow"},
			Run: func(t *T) {
				const groups = 40
				var wg sync.WaitGroup
				errs := make([]error, groups)
				for i := 0; i < groups; i++ {
					wg.Add(1)
					go func() {
						defer wg.Done()
						errs[i] = miniSession(t, i)
					}()
				}
				wg.Wait()
				var failed []string
				for i, err := range errs {
					if err != nil {
						failed = append(failed, fmt.Sprintf("group %d: %v", i, err))
					}
				}
				if len(failed) > 0 {
					t.Failf(fmt.Sprintf("all %d groups complete", groups), "%d failed:\n%s", len(failed), strings.Join(failed, "\n"))
				}
			},
		},
	)
}

// waitFor polls cond (the relay may apply a disconnect asynchronously) until it holds or the
// timeout passes.
func waitFor(t *T, what string, cond func() (bool, string)) {
	since := time.Now()
	deadline := time.NewTimer(t.cfg.Timeout)
	defer deadline.Stop()
	poll := time.NewTicker(20 * time.Millisecond)
	defer poll.Stop()
	for {
		ok, last := cond()
		if ok {
			return
		}
		select {
		case <-poll.C:
		case <-deadline.C:
			t.Failf(what+" within "+t.cfg.Timeout.String(), "%s", last)
		case <-t.ctx.Done():
			t.ended(what, since)
		}
	}
}

// exchange runs n broadcast round trips between the first two parties of s.
func exchange(t *T, s *Session, n int) {
	a, b := s.Parties[0], s.Parties[1]
	for i := 0; i < n; i++ {
		m := s.msg(s.Number[a], 0, fmt.Sprintf("ping %d", i))
		s.Message(a, m)
		expectMessage(t, b, s.ID, m)
		r := s.msg(s.Number[b], s.Number[a], fmt.Sprintf("pong %d", i))
		s.Message(b, r)
		expectMessage(t, a, s.ID, r)
	}
}

// dialRaw opens a bare WebSocket connection (for a client that misbehaves below the SDK).
func dialRaw(t *T) *websocket.Conn {
	ctx, cancel := t.ctxTimeout()
	defer cancel()
	url, _ := t.nextNode("raw")
	ws, _, err := websocket.DefaultDialer.DialContext(ctx, url, http.Header{})
	if err != nil {
		t.HarnessError("dial %s: %v", url, err)
	}
	return ws
}

// miniSession runs a 2-party keygen signup and one message each way on fresh connections,
// returning an error instead of failing (it runs on its own goroutine).
func miniSession(t *T, i int) error {
	ctx, cancel := context.WithTimeout(t.ctx, 3*t.cfg.Timeout)
	defer cancel()
	dial := func(name string) (*client.Client, error) {
		url, _ := t.nextNode(name)
		return client.Dial(ctx, url, client.WithCallTimeout(t.cfg.Timeout))
	}
	a, err := dial("a")
	if err != nil {
		return err
	}
	defer a.Close()
	b, err := dial("b")
	if err != nil {
		return err
	}
	defer b.Close()
	g, err := a.GroupCreate(ctx, fmt.Sprintf("%s #%d", t.c.ID, i), protocol.Parameters{Parties: 2, Threshold: 1})
	if err != nil {
		return err
	}
	if _, err := b.GroupJoin(ctx, g); err != nil {
		return err
	}
	s, err := a.SessionCreate(ctx, g, protocol.KindKeygen, nil)
	if err != nil {
		return err
	}
	names := []string{protocol.EventSessionSignup, protocol.EventSessionMessage}
	subA := a.Subscribe(client.Filter{Names: names, Session: s.UUID})
	defer subA.Close()
	subB := b.Subscribe(client.Filter{Names: names, Session: s.UUID})
	defer subB.Close()
	if _, err := a.SessionSignup(ctx, g, s.UUID, s.Kind); err != nil {
		return err
	}
	if _, err := b.SessionJoin(ctx, g, s.UUID, s.Kind); err != nil {
		return err
	}
	if _, err := b.SessionSignup(ctx, g, s.UUID, s.Kind); err != nil {
		return err
	}
	for _, sub := range []*client.Subscription{subA, subB} {
		ev, err := sub.Next(ctx)
		if err != nil {
			return fmt.Errorf("waiting for sessionSignup: %w", err)
		}
		if ev.Name != protocol.EventSessionSignup {
			return fmt.Errorf("expected sessionSignup, got %s", ev.Raw)
		}
	}
	body := mustJSON(fmt.Sprintf("group %d payload", i))
	if err := a.SessionMessage(ctx, g, s.UUID, s.Kind, protocol.Message{Round: 1, Sender: 1, UUID: s.UUID, Body: body}); err != nil {
		return err
	}
	ev, err := subB.Next(ctx)
	if err != nil {
		return fmt.Errorf("waiting for the broadcast: %w", err)
	}
	m, err := ev.AsMessage()
	if err != nil || string(m.Body) != string(body) {
		return fmt.Errorf("expected body %s, got %s", body, ev.Raw)
	}
	return nil
}
