package model

import (
	"errors"
	"fmt"
	"testing"
	"time"
)

// relay is a tiny script runner: send requests, feed the frames a relay would send, check the
// model's verdicts.
type script struct {
	t   *testing.T
	m   *Model
	now time.Time
}

func newScript(t *testing.T, opts Options) *script {
	return &script{t: t, m: New(opts), now: time.Unix(1000, 0)}
}

func (s *script) send(c Conn, frame string) {
	s.now = s.now.Add(time.Millisecond)
	s.m.Send(c, []byte(frame), false, s.now)
}

func (s *script) recv(c Conn, frame string) error {
	return s.m.Receive(c, Frame{Data: []byte(frame)})
}

func (s *script) ok(c Conn, frame string) {
	s.t.Helper()
	if err := s.recv(c, frame); err != nil {
		s.t.Fatalf("frame on %d refused: %v", c, err)
	}
}

func (s *script) refused(c Conn, frame string) {
	s.t.Helper()
	var mm *Mismatch
	if err := s.recv(c, frame); !errors.As(err, &mm) {
		s.t.Fatalf("frame on %d admitted, want a mismatch: %s", c, frame)
	}
}

func (s *script) idle() {
	s.t.Helper()
	if settled, waiting := s.m.Outstanding(); !settled || len(waiting) > 0 {
		s.t.Fatalf("model still waits on %v:\n%s", waiting, s.m.Missing())
	}
}

const (
	g1 = "11111111-1111-4111-8111-111111111111"
	s1 = "22222222-2222-4222-8222-222222222222"
)

// keygen2 makes a 2-party group of connections 1 and 2 and a keygen session both signed up to.
func keygen2(s *script) {
	s.m.Open(1)
	s.m.Open(2)
	s.send(1, `{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{"parties":2,"threshold":1}]}`)
	s.ok(1, `{"jsonrpc":"2.0","id":1,"result":"`+g1+`"}`)
	s.send(2, `{"jsonrpc":"2.0","id":1,"method":"Group.join","params":"`+g1+`"}`)
	s.ok(2, `{"jsonrpc":"2.0","id":1,"result":{"uuid":"`+g1+`","params":{"parties":2,"threshold":1},"label":"l"}}`)
	s.send(1, `{"jsonrpc":"2.0","id":2,"method":"Session.create","params":["`+g1+`","keygen",null]}`)
	s.ok(1, `{"jsonrpc":"2.0","id":2,"result":{"uuid":"`+s1+`","kind":"keygen","value":null}}`)
	s.ok(2, `{"jsonrpc":"2.0","id":0,"result":["sessionCreate",{"uuid":"`+s1+`","kind":"keygen","value":null}]}`)
	for i, c := range []Conn{1, 2} {
		s.send(c, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"Session.signup","params":["%s","%s","keygen"]}`, 3+i, g1, s1))
		s.ok(c, fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"result":%d}`, 3+i, i+1))
	}
	s.ok(2, `{"jsonrpc":"2.0","id":0,"result":["sessionSignup","`+s1+`"]}`)
	s.ok(1, `{"jsonrpc":"2.0","id":0,"result":["sessionSignup","`+s1+`"]}`)
	s.idle()
}

func TestKeygenFlowPredicted(t *testing.T) {
	s := newScript(t, Options{CloseGrace: time.Second})
	keygen2(s)
	// §4.7: a broadcast reaches the other party only, body as equal JSON (1.0 == 1, key order free)
	s.send(1, `{"jsonrpc":"2.0","id":9,"method":"Session.message","params":["`+g1+`","`+s1+`","keygen",{"round":1,"sender":1,"uuid":"`+s1+`","body":{"a":1.0,"b":[9007199254740993]}}]}`)
	s.ok(1, `{"jsonrpc":"2.0","id":9,"result":null}`)
	s.refused(2, `{"jsonrpc":"2.0","id":0,"result":["sessionMessage",{"round":1,"sender":1,"receiver":null,"uuid":"`+s1+`","body":{"a":1,"b":[9007199254740992]}}]}`)
	s.ok(2, `{"jsonrpc":"2.0","id":0,"result":["sessionMessage",{"round":1,"sender":1,"receiver":null,"uuid":"`+s1+`","body":{"b":[9007199254740993],"a":1}}]}`)
	s.idle()
	// §4.8: sessionClosed once every party finished, to both
	s.send(1, `{"jsonrpc":"2.0","id":10,"method":"Session.finish","params":["`+g1+`","`+s1+`",1]}`)
	s.ok(1, `{"jsonrpc":"2.0","id":10,"result":null}`)
	s.refused(2, `{"jsonrpc":"2.0","id":0,"result":["sessionClosed",[1,2]]}`) // too early
	s.send(2, `{"jsonrpc":"2.0","id":11,"method":"Session.finish","params":["`+g1+`","`+s1+`",2]}`)
	s.ok(2, `{"jsonrpc":"2.0","id":11,"result":null}`)
	s.ok(2, `{"jsonrpc":"2.0","id":0,"result":["sessionClosed",[1,2]]}`)
	s.ok(1, `{"jsonrpc":"2.0","id":0,"result":["sessionClosed",[1,2]]}`)
	s.idle()
}

// A choice is learned on first sight and then held: a relay that omits "result" once must
// always omit it (§2.2).
func TestChoiceLearnedThenHeld(t *testing.T) {
	s := newScript(t, Options{CloseGrace: time.Second})
	keygen2(s)
	msg := `{"jsonrpc":"2.0","id":%d,"method":"Session.message","params":["` + g1 + `","` + s1 + `","keygen",{"round":1,"sender":1,"uuid":"` + s1 + `"}]}`
	ev := `{"jsonrpc":"2.0","id":0,"result":["sessionMessage",{"round":1,"sender":1,"uuid":"` + s1 + `","body":null}]}`
	s.send(1, fmt.Sprintf(msg, 20))
	s.ok(1, `{"jsonrpc":"2.0","id":20}`) // the original's form
	s.ok(2, ev)
	s.idle()
	s.send(1, fmt.Sprintf(msg, 21))
	s.refused(1, `{"jsonrpc":"2.0","id":21,"result":null}`)
	s.ok(1, `{"jsonrpc":"2.0","id":21}`)
}

// §3.6: every uuid is fresh; a relay reusing a group's uuid for a session is refused.
func TestUUIDsMustBeFresh(t *testing.T) {
	s := newScript(t, Options{})
	s.m.Open(1)
	s.send(1, `{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{"parties":2,"threshold":1}]}`)
	s.ok(1, `{"jsonrpc":"2.0","id":1,"result":"`+g1+`"}`)
	s.send(1, `{"jsonrpc":"2.0","id":2,"method":"Session.create","params":["`+g1+`","sign",null]}`)
	s.refused(1, `{"jsonrpc":"2.0","id":2,"result":{"uuid":"`+g1+`","kind":"sign","value":null}}`)
	s.refused(1, `{"jsonrpc":"2.0","id":2,"result":{"uuid":"33333333-3333-1333-8333-333333333333","kind":"sign","value":null}}`) // version 1
	s.ok(1, `{"jsonrpc":"2.0","id":2,"result":{"uuid":"`+s1+`","kind":"sign","value":null}}`)
}

// §6.1: until the close grace has passed, the relay may or may not have processed a close; after
// it, a group whose only member closed is gone.
func TestCloseProcessedWithinGrace(t *testing.T) {
	for _, processed := range []bool{false, true} {
		s := newScript(t, Options{CloseGrace: time.Second})
		s.m.Open(1)
		s.m.Open(2)
		s.send(1, `{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{"parties":2,"threshold":1}]}`)
		s.ok(1, `{"jsonrpc":"2.0","id":1,"result":"`+g1+`"}`)
		s.m.Close(1, s.now)
		s.send(2, `{"jsonrpc":"2.0","id":1,"method":"Group.join","params":"`+g1+`"}`)
		if processed {
			s.ok(2, `{"jsonrpc":"2.0","id":1,"error":{"code":-32603,"message":"gone"}}`)
		} else {
			s.ok(2, `{"jsonrpc":"2.0","id":1,"result":{"uuid":"`+g1+`","params":{"parties":2,"threshold":1},"label":"l"}}`)
		}
		s.idle()
	}
	s := newScript(t, Options{CloseGrace: time.Second})
	s.m.Open(1)
	s.m.Open(2)
	s.send(1, `{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{"parties":2,"threshold":1}]}`)
	s.ok(1, `{"jsonrpc":"2.0","id":1,"result":"`+g1+`"}`)
	s.m.Close(1, s.now)
	s.now = s.now.Add(2 * time.Second)
	s.send(2, `{"jsonrpc":"2.0","id":1,"method":"Group.join","params":"`+g1+`"}`)
	s.refused(2, `{"jsonrpc":"2.0","id":1,"result":{"uuid":"`+g1+`","params":{"parties":2,"threshold":1},"label":"l"}}`)
}

// §1.3: the caller's response comes before the events its request triggers.
func TestResponseBeforeEvents(t *testing.T) {
	s := newScript(t, Options{})
	s.m.Open(1)
	s.send(1, `{"jsonrpc":"2.0","id":1,"method":"Group.create","params":["l",{"parties":2,"threshold":1}]}`)
	s.ok(1, `{"jsonrpc":"2.0","id":1,"result":"`+g1+`"}`)
	s.send(1, `{"jsonrpc":"2.0","id":2,"method":"Session.create","params":["`+g1+`","sign",null]}`)
	s.ok(1, `{"jsonrpc":"2.0","id":2,"result":{"uuid":"`+s1+`","kind":"sign","value":null}}`)
	s.send(1, `{"jsonrpc":"2.0","id":3,"method":"Session.signup","params":["`+g1+`","`+s1+`","sign"]}`)
	s.send(1, `{"jsonrpc":"2.0","id":4,"method":"Session.signup","params":["`+g1+`","`+s1+`","sign"]}`)
	s.ok(1, `{"jsonrpc":"2.0","id":3,"result":1}`)
	s.refused(1, `{"jsonrpc":"2.0","id":0,"result":["sessionSignup","`+s1+`"]}`) // before the response of id 4
	s.ok(1, `{"jsonrpc":"2.0","id":4,"result":2}`)
	s.ok(1, `{"jsonrpc":"2.0","id":0,"result":["sessionSignup","`+s1+`"]}`)
}
