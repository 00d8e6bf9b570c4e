package breakage

// Bugs that show only in groups and sessions larger than the explorer's six connections
// (realistic.go lists them): members or parties counted in a fixed-width mask or array.

import (
	"encoding/json"
	"slices"

	"github.com/google/uuid"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// dropNext drops the next event of a name to a connection, once per mark.
type dropNext map[*faultproxy.Conn]map[string]int

func (d dropNext) mark(c *faultproxy.Conn, name string) {
	if d[c] == nil {
		d[c] = map[string]int{}
	}
	d[c][name]++
}

func (d dropNext) rule() faultproxy.Rule {
	return faultproxy.Rule{Name: "drop-marked", Dir: faultproxy.ToClient, Match: faultproxy.Event(""), Apply: func(f *faultproxy.Frame) {
		if d[f.Conn][f.RPC.Event] > 0 {
			d[f.Conn][f.RPC.Event]--
			f.Drop()
		}
	}}
}

// membersIn16BitMask drops the sessionCreate, notifyProposal and notifySigned a request sends
// to the members after the 16th of its group (in join order).
func membersIn16BitMask() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	drops := dropNext{}
	return []faultproxy.Rule{tr.Rule(),
		{Name: "mask", Dir: faultproxy.ToRelay, Match: faultproxy.Request(""), Apply: func(f *faultproxy.Frame) {
			var raw []json.RawMessage
			var gid uuid.UUID
			if json.Unmarshal(f.RPC.Params, &raw) != nil || len(raw) < 2 || json.Unmarshal(raw[0], &gid) != nil {
				return
			}
			name := ""
			var except func(*faultproxy.Conn) bool
			switch f.RPC.Method {
			case protocol.MethodSessionCreate:
				var p protocol.SessionCreateParams
				if json.Unmarshal(f.RPC.Params, &p) == nil && p.Kind == protocol.KindKeygen {
					name = protocol.EventSessionCreate
				}
			case protocol.MethodNotifyProposal:
				name = protocol.EventNotifyProposal
			case protocol.MethodNotifySigned:
				var sid uuid.UUID
				if json.Unmarshal(raw[1], &sid) == nil {
					name = protocol.EventNotifySigned
					if s := tr.Session(sid); s != nil {
						except = s.IsParty
					}
				}
			}
			g := tr.Group(gid)
			if name == "" || g == nil || !slices.Contains(g.Members, f.Conn) {
				return
			}
			for slot, m := range g.Members {
				if slot >= 16 && m != f.Conn && !m.Closed() && (except == nil || !except(m)) {
					drops.mark(m, name)
				}
			}
		}},
		drops.rule(),
	}
}

// partiesIn32BitMask drops sessionSignup and sessionLoad to a party holding no number below 32.
func partiesIn32BitMask() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "mask", Dir: faultproxy.ToClient, Match: func(f *faultproxy.Frame) bool {
		return f.RPC.IsEvent(protocol.EventSessionSignup) || f.RPC.IsEvent(protocol.EventSessionLoad)
	}, Apply: func(f *faultproxy.Frame) {
		var id uuid.UUID
		if json.Unmarshal(f.RPC.Payload, &id) != nil {
			return
		}
		s := tr.Session(id)
		if s == nil {
			return
		}
		for n, c := range s.Parties {
			if c == f.Conn && n < 32 {
				return
			}
		}
		if s.IsParty(f.Conn) {
			f.Drop()
		}
	}}}
}

// broadcastCapped16 drops a broadcast to the other parties after the first 16 (by number): the
// recipients collected into a 16-entry array.
func broadcastCapped16() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "cap", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
		m, s, decoded := messageEvent(tr, f)
		if !decoded || !m.Broadcast() || s == nil {
			return
		}
		others := slices.DeleteFunc(s.PartyConns(), func(c *faultproxy.Conn) bool { return c == s.Parties[m.Sender] })
		if i := slices.Index(others, f.Conn); i >= 16 {
			f.Drop()
		}
	}}}
}
