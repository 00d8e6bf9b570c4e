package conformance

import (
	"encoding/json"

	"github.com/google/uuid"

	"mpcrelay/client"
	"mpcrelay/relay/protocol"
)

// Typed calls that expect success: the setup steps of cases.

func (c *Conn) CreateGroup(label string, parties, threshold uint16) uuid.UUID {
	var id uuid.UUID
	c.OK(protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: label, Params: protocol.Parameters{Parties: parties, Threshold: threshold}}, &id)
	return id
}

func (c *Conn) JoinGroup(g uuid.UUID) protocol.Group {
	var out protocol.Group
	c.OK(protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g}, &out)
	return out
}

func (c *Conn) CreateSession(g uuid.UUID, kind protocol.SessionKind, value any) protocol.Session {
	v, err := json.Marshal(value)
	if err != nil {
		c.t.HarnessError("encode session value: %v", err)
	}
	var out protocol.Session
	c.OK(protocol.MethodSessionCreate, protocol.SessionCreateParams{GroupID: g, Kind: kind, Value: v}, &out)
	return out
}

func (c *Conn) JoinSession(g, s uuid.UUID, kind protocol.SessionKind) protocol.Session {
	var out protocol.Session
	c.OK(protocol.MethodSessionJoin, protocol.SessionParams{GroupID: g, SessionID: s, Kind: kind}, &out)
	return out
}

func (c *Conn) Signup(g, s uuid.UUID, kind protocol.SessionKind) uint16 {
	var n uint16
	c.OK(protocol.MethodSessionSignup, protocol.SessionParams{GroupID: g, SessionID: s, Kind: kind}, &n)
	return n
}

func (c *Conn) Load(g, s uuid.UUID, kind protocol.SessionKind, number uint16) uint16 {
	var n uint16
	c.OK(protocol.MethodSessionLoad, protocol.SessionLoadParams{GroupID: g, SessionID: s, Kind: kind, Number: number}, &n)
	return n
}

func (c *Conn) Message(g, s uuid.UUID, kind protocol.SessionKind, m protocol.Message) {
	c.OK(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: s, Kind: kind, Message: m}, nil)
}

func (c *Conn) Finish(g, s uuid.UUID, number uint16) {
	c.OK(protocol.MethodSessionFinish, protocol.SessionFinishParams{GroupID: g, SessionID: s, Number: number}, nil)
}

// Group is a group created for a case, with the connections that are its members.
type Group struct {
	ID      uuid.UUID
	Params  protocol.Parameters
	Members []*Conn
}

// NewGroup dials n connections; the first creates a group (parties, threshold) and the others
// join it.
func (t *T) NewGroup(parties, threshold uint16, n int) *Group {
	conns := t.DialN(n)
	g := &Group{Params: protocol.Parameters{Parties: parties, Threshold: threshold}, Members: conns}
	g.ID = conns[0].CreateGroup(t.Label(), parties, threshold)
	for _, c := range conns[1:] {
		c.JoinGroup(g.ID)
	}
	return g
}

// Session is a session of a case's group and the party number each connection holds.
type Session struct {
	G       *Group
	ID      uuid.UUID
	Kind    protocol.SessionKind
	Number  map[*Conn]uint16
	Parties []*Conn // in signup order
}

// NewSession creates a session of kind from the group's first member.
func (g *Group) NewSession(kind protocol.SessionKind, value any) *Session {
	s := g.Members[0].CreateSession(g.ID, kind, value)
	return &Session{G: g, ID: s.UUID, Kind: kind, Number: map[*Conn]uint16{}}
}

// NewJoinedSession creates a session of kind from the first member; every other member receives
// sessionCreate and joins it (Session.join), ready to sign up or load without Session.Signup.
func (g *Group) NewJoinedSession(kind protocol.SessionKind, value any) *Session {
	s := g.NewSession(kind, value)
	for _, c := range g.Members[1:] {
		c.WaitEvent(protocol.EventSessionCreate, s.ID)
		c.JoinSession(g.ID, s.ID, s.Kind)
	}
	return s
}

// afterDeparture asks probe, after a party's connection closed, whether the relay freed its
// number; the relay may take a moment to see the close, so probe gets up to five quiet windows.
func afterDeparture(t *T, probe func() bool) bool {
	for range 5 {
		t.Quiet()
		if probe() {
			return true
		}
	}
	return false
}

// Reload has c load number n of s after n's holder closed its connection. It returns false, with
// an info note, when the relay keeps a departed party's number (COMPAT, §6.1: the load is refused),
// so the caller has nothing to check.
func (s *Session) Reload(t *T, c *Conn, n uint16) bool {
	load := protocol.SessionLoadParams{GroupID: s.G.ID, SessionID: s.ID, Kind: s.Kind, Number: n}
	var resp client.Response
	if afterDeparture(t, func() bool { resp = c.Raw(protocol.MethodSessionLoad, load); return resp.Error == nil }) {
		return true
	}
	t.Info("number %d kept after its party left (COMPAT, §6.1): %s", n, resp.Error)
	return false
}

// Signup makes c a party (Session.join by non-creators, then Session.signup).
func (s *Session) Signup(c *Conn) uint16 {
	if c != s.G.Members[0] {
		c.JoinSession(s.G.ID, s.ID, s.Kind)
	}
	n := c.Signup(s.G.ID, s.ID, s.Kind)
	s.Number[c] = n
	s.Parties = append(s.Parties, c)
	return n
}

// SignupAll signs up conns in order and consumes the sessionSignup event each must receive.
func (s *Session) SignupAll(conns ...*Conn) {
	for _, c := range conns {
		s.Signup(c)
	}
	for _, c := range conns {
		c.WaitEvent(protocol.EventSessionSignup, s.ID)
	}
}

// FinishAll finishes every party in order and consumes the sessionClosed each must receive
// (§4.8), the twin of SignupAll.
func (s *Session) FinishAll() {
	for _, c := range s.Parties {
		c.Finish(s.G.ID, s.ID, s.Number[c])
	}
	for _, c := range s.Parties {
		c.WaitEvent(protocol.EventSessionClosed, uuid.Nil)
	}
}

// Message sends m from c within the session.
func (s *Session) Message(c *Conn, m protocol.Message) {
	c.Message(s.G.ID, s.ID, s.Kind, m)
}

// Required is the party count that fires sessionSignup (§4.5).
func (s *Session) Required() int { return s.Kind.Required(s.G.Params) }

// ReadyKeygen builds the common start of routing and finish cases: a group of `parties`
// members and a keygen session where all signed up and got sessionSignup.
func (t *T) ReadyKeygen(parties, threshold uint16) *Session {
	return t.Ready(protocol.KindKeygen, parties, threshold, int(parties))
}

// Ready builds a group of `members` connections and a session of kind whose required parties
// (the first members) signed up and got sessionSignup. Members beyond them are not parties
// (only possible for sign, where threshold+1 < parties).
func (t *T) Ready(kind protocol.SessionKind, parties, threshold uint16, members int) *Session {
	g := t.NewGroup(parties, threshold, members)
	s := g.NewSession(kind, nil)
	if kind == protocol.KindKeygen {
		for _, c := range g.Members[1:] {
			c.WaitEvent(protocol.EventSessionCreate, s.ID)
		}
	}
	s.SignupAll(g.Members[:s.Required()]...)
	return s
}

// msg builds a session message from party `from`; to == 0 means broadcast.
func (s *Session) msg(from, to uint16, body any) protocol.Message {
	b, _ := json.Marshal(body)
	m := protocol.Message{Round: 1, Sender: from, UUID: s.ID, Body: b}
	if to != 0 {
		m.Receiver = protocol.Receiver(to)
	}
	return m
}
