package faultproxy

import (
	"encoding/json"
	"slices"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// Tracker follows the relay state visible on the wire — groups and their member connections,
// sessions and which connection holds which party number — so that rules can target "the other
// parties of this session" or "members that are not parties". Put its Rule first; rules after
// it see the state including the frame at hand. Its methods must be called from rules (they rely
// on the proxy-wide lock).
type Tracker struct {
	groups   map[uuid.UUID]*TrackedGroup
	sessions map[uuid.UUID]*TrackedSession
}

// TrackedGroup is a group seen through the proxy.
type TrackedGroup struct {
	ID      uuid.UUID
	Params  protocol.Parameters
	Members []*Conn
}

// TrackedSession is a session seen through the proxy.
type TrackedSession struct {
	ID       uuid.UUID
	Group    uuid.UUID
	Kind     protocol.SessionKind
	Parties  map[uint16]*Conn // party number → connection holding it
	Finished map[uint16]bool
}

// NewTracker returns an empty tracker.
func NewTracker() *Tracker {
	return &Tracker{groups: map[uuid.UUID]*TrackedGroup{}, sessions: map[uuid.UUID]*TrackedSession{}}
}

// Rule observes successful responses and updates the tracked state.
func (t *Tracker) Rule() Rule {
	return Rule{Name: "tracker", Dir: ToClient, Match: func(f *Frame) bool {
		return f.RPC.Kind == KindResponse && f.RPC.Error == nil && f.RPC.Method != ""
	}, Apply: t.observe}
}

func (t *Tracker) observe(f *Frame) {
	r := f.RPC
	switch r.Method {
	case protocol.MethodGroupCreate:
		var p protocol.GroupCreateParams
		var id uuid.UUID
		if json.Unmarshal(r.Params, &p) == nil && json.Unmarshal(r.Result, &id) == nil {
			t.groups[id] = &TrackedGroup{ID: id, Params: p.Params, Members: []*Conn{f.Conn}}
		}
	case protocol.MethodGroupJoin:
		var g protocol.Group
		if json.Unmarshal(r.Result, &g) == nil {
			tg := t.group(g.UUID)
			tg.Params = g.Params
			if !slices.Contains(tg.Members, f.Conn) {
				tg.Members = append(tg.Members, f.Conn)
			}
		}
	case protocol.MethodSessionCreate:
		var p protocol.SessionCreateParams
		var s protocol.Session
		if json.Unmarshal(r.Params, &p) == nil && json.Unmarshal(r.Result, &s) == nil {
			ts := t.session(s.UUID)
			ts.Group, ts.Kind = p.GroupID, s.Kind
		}
	case protocol.MethodSessionJoin:
		var p protocol.SessionParams
		if json.Unmarshal(r.Params, &p) == nil {
			t.session(p.SessionID).Group = p.GroupID
		}
	case protocol.MethodSessionSignup, protocol.MethodSessionLoad:
		var p protocol.SessionParams
		var n uint16
		var lp protocol.SessionLoadParams
		if r.Method == protocol.MethodSessionLoad {
			if json.Unmarshal(r.Params, &lp) != nil {
				return
			}
			p = protocol.SessionParams{GroupID: lp.GroupID, SessionID: lp.SessionID, Kind: lp.Kind}
		} else if json.Unmarshal(r.Params, &p) != nil {
			return
		}
		if json.Unmarshal(r.Result, &n) == nil {
			ts := t.session(p.SessionID)
			ts.Group = p.GroupID
			if ts.Kind == "" {
				ts.Kind = p.Kind
			}
			ts.Parties[n] = f.Conn
		}
	case protocol.MethodSessionFinish:
		var p protocol.SessionFinishParams
		if json.Unmarshal(r.Params, &p) == nil {
			t.session(p.SessionID).Finished[p.Number] = true
		}
	}
}

func (t *Tracker) group(id uuid.UUID) *TrackedGroup {
	g, ok := t.groups[id]
	if !ok {
		g = &TrackedGroup{ID: id}
		t.groups[id] = g
	}
	return g
}

func (t *Tracker) session(id uuid.UUID) *TrackedSession {
	s, ok := t.sessions[id]
	if !ok {
		s = &TrackedSession{ID: id, Parties: map[uint16]*Conn{}, Finished: map[uint16]bool{}}
		t.sessions[id] = s
	}
	return s
}

// Group returns the tracked group, or nil.
func (t *Tracker) Group(id uuid.UUID) *TrackedGroup { return t.groups[id] }

// Session returns the tracked session, or nil.
func (t *Tracker) Session(id uuid.UUID) *TrackedSession { return t.sessions[id] }

// Required is the party count at which the session's signup/load events fire (§4.5), or 0 when
// the group is unknown.
func (t *Tracker) Required(s *TrackedSession) int {
	g := t.groups[s.Group]
	if g == nil {
		return 0
	}
	return s.Kind.Required(g.Params)
}

// PartyConns returns the connections holding a party number in the session, by ascending number.
func (s *TrackedSession) PartyConns() []*Conn {
	nums := s.Numbers()
	out := make([]*Conn, 0, len(nums))
	for _, n := range nums {
		if !slices.Contains(out, s.Parties[n]) {
			out = append(out, s.Parties[n])
		}
	}
	return out
}

// Numbers returns the party numbers of the session in ascending order.
func (s *TrackedSession) Numbers() []uint16 {
	var nums []uint16
	for n := range s.Parties {
		nums = append(nums, n)
	}
	slices.Sort(nums)
	return nums
}

// IsParty reports whether c holds a party number in the session.
func (s *TrackedSession) IsParty(c *Conn) bool {
	for _, pc := range s.Parties {
		if pc == c {
			return true
		}
	}
	return false
}

// NonPartyMembers returns the members of the session's group that hold no party number in it.
func (t *Tracker) NonPartyMembers(s *TrackedSession) []*Conn {
	g := t.groups[s.Group]
	if g == nil {
		return nil
	}
	var out []*Conn
	for _, m := range g.Members {
		if !s.IsParty(m) {
			out = append(out, m)
		}
	}
	return out
}

// Sessions returns every tracked session (in no order).
func (t *Tracker) Sessions() []*TrackedSession {
	out := make([]*TrackedSession, 0, len(t.sessions))
	for _, s := range t.sessions {
		out = append(out, s)
	}
	return out
}

// SessionsOf returns the tracked sessions of a group (in no order).
func (t *Tracker) SessionsOf(group uuid.UUID) []*TrackedSession {
	var out []*TrackedSession
	for _, s := range t.sessions {
		if s.Group == group {
			out = append(out, s)
		}
	}
	return out
}
