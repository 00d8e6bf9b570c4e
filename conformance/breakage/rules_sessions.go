package breakage

import (
	"encoding/json"
	"slices"

	"github.com/google/uuid"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// Breakages of the session rules (§4.3–§4.8, §6.2), listed in rules.go.

func signCreateSendsEvent() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "announce", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionCreate), ok),
		Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionCreateParams
			var s protocol.Session
			if json.Unmarshal(f.RPC.Params, &p) != nil || json.Unmarshal(f.RPC.Result, &s) != nil || s.Kind != protocol.KindSign {
				return
			}
			if g := tr.Group(p.GroupID); g != nil {
				for _, m := range g.Members {
					if m != f.Conn {
						f.Inject(m, faultproxy.ToClient, event(protocol.EventSessionCreate, f.RPC.Result))
					}
				}
			}
		}}}
}

// unknownSessionAccepted answers method's "does not exist" error for a session the proxy never
// saw (in a group it saw, from a member) with result(params).
func unknownSessionAccepted(method string, result func(protocol.SessionParams) any) func() []faultproxy.Rule {
	return func() []faultproxy.Rule {
		tr := faultproxy.NewTracker()
		return []faultproxy.Rule{tr.Rule(), {Name: "accept", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(method), faultproxy.ErrorResponse(protocol.CodeInternal)),
			Apply: func(f *faultproxy.Frame) {
				var p protocol.SessionParams
				var raw []json.RawMessage
				if json.Unmarshal(f.RPC.Params, &raw) != nil || len(raw) < 2 || json.Unmarshal(raw[0], &p.GroupID) != nil || json.Unmarshal(raw[1], &p.SessionID) != nil {
					return
				}
				if len(raw) > 2 {
					_ = json.Unmarshal(raw[2], &p.Kind)
				}
				g := tr.Group(p.GroupID)
				if g != nil && slices.Contains(g.Members, f.Conn) && tr.Session(p.SessionID) == nil {
					success(f, result(p))
				}
			}}}
	}
}

func joinMakesAParty() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	joiners := map[uuid.UUID][]*faultproxy.Conn{} // joined, not (yet) parties
	fired := map[uuid.UUID]bool{}
	return []faultproxy.Rule{tr.Rule(), {Name: "count", Dir: faultproxy.ToClient, Match: faultproxy.All(ok, func(f *faultproxy.Frame) bool {
		return f.RPC.IsResponseTo(protocol.MethodSessionJoin) || f.RPC.IsResponseTo(protocol.MethodSessionSignup)
	}), Apply: func(f *faultproxy.Frame) {
		var p protocol.SessionParams
		if json.Unmarshal(f.RPC.Params, &p) != nil {
			return
		}
		s := tr.Session(p.SessionID)
		if s == nil {
			return
		}
		if f.RPC.Method == protocol.MethodSessionSignup {
			joiners[s.ID] = slices.DeleteFunc(joiners[s.ID], func(c *faultproxy.Conn) bool { return c == f.Conn })
			return
		}
		if s.IsParty(f.Conn) || slices.Contains(joiners[s.ID], f.Conn) {
			return
		}
		joiners[s.ID] = append(joiners[s.ID], f.Conn)
		if req := tr.Required(s); !fired[s.ID] && req > 0 && len(s.Parties)+len(joiners[s.ID]) == req {
			fired[s.ID] = true
			for _, c := range append(s.PartyConns(), joiners[s.ID]...) {
				f.Inject(c, faultproxy.ToClient, event(protocol.EventSessionSignup, s.ID))
			}
		}
	}}}
}

func signupNumberCountsParties() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	loaded := map[uuid.UUID]bool{}
	// this rule runs before the tracker's, so the session's parties do not include this signup yet
	return []faultproxy.Rule{{Name: "count", Dir: faultproxy.ToClient, Match: joinsParty, Apply: func(f *faultproxy.Frame) {
		var p protocol.SessionParams
		var raw []json.RawMessage
		if json.Unmarshal(f.RPC.Params, &raw) != nil || len(raw) < 2 || json.Unmarshal(raw[1], &p.SessionID) != nil {
			return
		}
		if f.RPC.Method == protocol.MethodSessionLoad {
			loaded[p.SessionID] = true
			return
		}
		if s := tr.Session(p.SessionID); s != nil && loaded[p.SessionID] {
			success(f, len(s.Parties)+1)
		}
	}}, tr.Rule()}
}

func signSignupEventAtParties() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "wait", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionSignup), Apply: func(f *faultproxy.Frame) {
		var id uuid.UUID
		if json.Unmarshal(f.RPC.Payload, &id) != nil {
			return
		}
		s := tr.Session(id)
		if s == nil || s.Kind != protocol.KindSign {
			return
		}
		if g := tr.Group(s.Group); g != nil && len(s.Parties) < int(g.Params.Parties) {
			f.Drop()
		}
	}}}
}

func extraSignupRepeatsEvent() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "repeat", Dir: faultproxy.ToClient, Match: faultproxy.ResponseTo(protocol.MethodSessionSignup), Apply: func(f *faultproxy.Frame) {
		var p protocol.SessionParams
		if json.Unmarshal(f.RPC.Params, &p) != nil {
			return
		}
		s := tr.Session(p.SessionID)
		if s == nil {
			return
		}
		req := tr.Required(s)
		// a refused extra signup leaves the parties at the required count; an accepted one (the
		// original's behaviour) takes them past it
		if req == 0 || (f.RPC.Error != nil && len(s.Parties) < req) || (f.RPC.Error == nil && len(s.Parties) <= req) {
			return
		}
		conns := s.PartyConns()
		if !slices.Contains(conns, f.Conn) {
			conns = append(conns, f.Conn)
		}
		for _, c := range conns {
			f.Inject(c, faultproxy.ToClient, event(protocol.EventSessionSignup, s.ID))
		}
	}}}
}

func unknownReceiverAccepted() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "accept", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionMessage), faultproxy.ErrorResponse(protocol.CodeInternal)),
		Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionMessageParams
			if json.Unmarshal(f.RPC.Params, &p) != nil || p.Message.Receiver == nil {
				return
			}
			if s := tr.Session(p.SessionID); s != nil && s.IsParty(f.Conn) && s.Parties[*p.Message.Receiver] == nil {
				success(f, nil)
			}
		}}}
}

func broadcastSkipsLastParty() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "skip", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
		if m, s, decoded := messageEvent(tr, f); decoded && m.Broadcast() && s != nil {
			nums := s.Numbers()
			if last := nums[len(nums)-1]; s.Parties[last] == f.Conn && m.Sender != last {
				f.Drop()
			}
		}
	}}}
}

func broadcastReceiverFilledIn() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "fill", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
		if m, s, decoded := messageEvent(tr, f); decoded && m.Broadcast() && s != nil {
			for n, c := range s.Parties {
				if c == f.Conn {
					m.Receiver = protocol.Receiver(n)
					f.Replace(event(protocol.EventSessionMessage, m))
					return
				}
			}
		}
	}}}
}

func finishUnknownPartyAccepted() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "accept", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionFinish), faultproxy.ErrorResponse(protocol.CodeInternal)),
		Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionFinishParams
			if json.Unmarshal(f.RPC.Params, &p) != nil {
				return
			}
			if s := tr.Session(p.SessionID); s != nil && s.IsParty(f.Conn) && s.Parties[p.Number] == nil {
				success(f, nil)
			}
		}}}
}

func routingStopsAfterDisconnect() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "stop", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
		if _, s, _ := messageEvent(tr, f); s != nil && slices.ContainsFunc(s.PartyConns(), (*faultproxy.Conn).Closed) {
			f.Drop()
		}
	}}}
}
