package breakage

import (
	"bytes"
	"encoding/json"
	"regexp"
	"slices"
	"strings"

	"github.com/google/uuid"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// The classes of bug the suite once missed (issue #11): isolation between groups and between
// the sessions of one group, fresh uuids, events at the wrong time, and values that must
// round-trip exactly. They run against every light case, like the rest of All, so the self-test
// shows which cases catch them.
func init() { All = append(All, classBreakages...) }

var classBreakages = []Breakage{
	{Name: "session-lookup-ignores-group", Description: "§3.6 a session is found through any group the caller belongs to (one global session map)", Rule: "3.6.groups-independent",
		Rules: sessionLookupIgnoresGroup},
	{Name: "p2p-routed-by-number-in-group", Description: "§3.6 a peer-to-peer message goes to whoever holds the receiver number in the group's first session", Rule: "3.6.sessions-independent",
		Rules: p2pRoutedByNumberInGroup},
	{Name: "first-session-reuses-group-uuid", Description: "§3.6 a group's first session gets the group's uuid (the relay translates it back)", Rule: "3.6.fresh-uuids",
		Rules: firstSessionReusesGroupUUID},
	{Name: "past-events-replayed-to-new-member", Description: "§3.6 a connection joining a group is sent sessionCreate for the group's earlier keygen sessions", Rule: "3.6.events-when-rule-fires",
		Rules: pastEventsReplayed},
	{Name: "label-utf8-double-encoded", Description: "§4.2 Group.join returns the label UTF-8 encoded twice (read as Latin-1)", Rule: "4.2.join-returns-group",
		Rules: only(faultproxy.Rule{Name: "mojibake", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), ok), Apply: func(f *faultproxy.Frame) {
			var g protocol.Group
			if json.Unmarshal(f.RPC.Result, &g) == nil {
				g.Label = latin1(g.Label)
				success(f, g)
			}
		}})},
	{Name: "proposal-utf8-double-encoded", Description: "§4.9 notifyProposal strings UTF-8 encoded twice (read as Latin-1)", Rule: "4.9.proposal-to-other-members",
		Rules: only(faultproxy.Rule{Name: "mojibake", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventNotifyProposal), Apply: func(f *faultproxy.Frame) {
			var p protocol.Proposal
			if json.Unmarshal(f.RPC.Payload, &p) == nil {
				p.ProposalID, p.Message = latin1(p.ProposalID), latin1(p.Message)
				f.Replace(event(protocol.EventNotifyProposal, p))
			}
		}})},
	{Name: "falsy-value-nulled", Description: `§3.3 session values 0, "" and false written as null (value || null)`, Rule: "3.3.session-object",
		Rules: only(faultproxy.Rule{Name: "falsy", Dir: faultproxy.ToClient, Match: func(f *faultproxy.Frame) bool {
			return f.RPC.IsEvent(protocol.EventSessionCreate) || (ok(f) && (f.RPC.IsResponseTo(protocol.MethodSessionCreate) || f.RPC.IsResponseTo(protocol.MethodSessionJoin)))
		}, Apply: func(f *faultproxy.Frame) {
			raw := f.RPC.Result
			if f.RPC.Kind == faultproxy.KindEvent {
				raw = f.RPC.Payload
			}
			var s protocol.Session
			if json.Unmarshal(raw, &s) != nil || !falsy(s.Value) {
				return
			}
			s.Value = json.RawMessage("null")
			if f.RPC.Kind == faultproxy.KindEvent {
				f.Replace(event(protocol.EventSessionCreate, s))
			} else {
				success(f, s)
			}
		}})},
	{Name: "falsy-body-nulled", Description: `§4.7 message bodies 0, "" and false forwarded as null (body || null)`, Rule: "4.7.body-equal-json",
		Rules: only(faultproxy.Rule{Name: "falsy", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
			var m protocol.Message
			if json.Unmarshal(f.RPC.Payload, &m) == nil && falsy(m.Body) {
				m.Body = json.RawMessage("null")
				f.Replace(event(protocol.EventSessionMessage, m))
			}
		}})},
	{Name: "body-numbers-as-float64", Description: "§4.7 message bodies decoded and re-encoded through float64 (big and precise numbers rounded)", Rule: "4.7.body-equal-json",
		Rules: only(faultproxy.Rule{Name: "float", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
			var m protocol.Message
			var v any
			if json.Unmarshal(f.RPC.Payload, &m) != nil || json.Unmarshal(m.Body, &v) != nil {
				return
			}
			if b, err := json.Marshal(v); err == nil {
				m.Body = b
				f.Replace(event(protocol.EventSessionMessage, m))
			}
		}})},
	{Name: "signed-value-falsy-nulled", Description: `§4.10 notifySigned values 0, "" and false sent as null (value || null)`, Rule: "4.10.signed-to-non-parties",
		Rules: only(faultproxy.Rule{Name: "falsy", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventNotifySigned), Apply: func(f *faultproxy.Frame) {
			if falsy(f.RPC.Payload) {
				f.Replace(event(protocol.EventNotifySigned, nil))
			}
		}})},
}

// falsy reports whether v is one of the JSON values JavaScript treats as false besides null.
func falsy(v json.RawMessage) bool {
	s := string(bytes.TrimSpace(v))
	return s == "0" || s == `""` || s == "false"
}

// latin1 is what a relay that reads UTF-8 bytes as Latin-1 and writes them as UTF-8 makes of s.
func latin1(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	return b.String()
}

func sessionLookupIgnoresGroup() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "global", Dir: faultproxy.ToRelay, Match: func(f *faultproxy.Frame) bool {
		switch f.RPC.Method {
		case protocol.MethodSessionJoin, protocol.MethodSessionSignup, protocol.MethodSessionLoad, protocol.MethodSessionMessage, protocol.MethodSessionFinish:
			return f.RPC.Kind == faultproxy.KindRequest
		}
		return false
	}, Apply: func(f *faultproxy.Frame) {
		var raw []json.RawMessage
		var g, sid uuid.UUID
		if json.Unmarshal(f.RPC.Params, &raw) != nil || len(raw) < 2 || json.Unmarshal(raw[0], &g) != nil || json.Unmarshal(raw[1], &sid) != nil {
			return
		}
		if s := tr.Session(sid); s != nil && s.Group != uuid.Nil && s.Group != g {
			raw[0], _ = json.Marshal(s.Group)
			request(f, raw)
		}
	}}}
}

// sessionsInOrder records the sessions of each group in creation order.
func sessionsInOrder(order map[uuid.UUID][]uuid.UUID) faultproxy.Rule {
	return faultproxy.Rule{Name: "order", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionCreate), ok), Apply: func(f *faultproxy.Frame) {
		var p protocol.SessionCreateParams
		var s protocol.Session
		if json.Unmarshal(f.RPC.Params, &p) == nil && json.Unmarshal(f.RPC.Result, &s) == nil {
			order[p.GroupID] = append(order[p.GroupID], s.UUID)
		}
	}}
}

func p2pRoutedByNumberInGroup() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	order := map[uuid.UUID][]uuid.UUID{}
	return []faultproxy.Rule{tr.Rule(), sessionsInOrder(order), {Name: "misroute", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
		m, s, decoded := messageEvent(tr, f)
		if !decoded || m.Broadcast() || s == nil {
			return
		}
		for _, id := range order[s.Group] {
			if id == s.ID {
				return // the first session holding the number is this one: routed right
			}
			if other := tr.Session(id); other != nil && other.Parties[*m.Receiver] != nil {
				if c := other.Parties[*m.Receiver]; c != f.Conn {
					f.Drop()
					f.Inject(c, faultproxy.ToClient, f.Data)
				}
				return
			}
		}
	}}}
}

var uuidText = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

func firstSessionReusesGroupUUID() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	toClient := map[string]string{} // real session uuid → the group uuid shown for it
	toRelay := map[string]string{}  // group uuid → the real session uuid, after its first use
	pending := map[uuid.UUID]bool{} // groups whose first Session.create is under way
	alias := func(session, group uuid.UUID) {
		if _, taken := toRelay[group.String()]; !taken {
			toClient[session.String()], toRelay[group.String()] = group.String(), session.String()
		}
		delete(pending, group)
	}
	return []faultproxy.Rule{
		tr.Rule(),
		{Name: "creating", Dir: faultproxy.ToRelay, Match: faultproxy.Request(protocol.MethodSessionCreate), Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionCreateParams
			if json.Unmarshal(f.RPC.Params, &p) == nil && toRelay[p.GroupID.String()] == "" {
				pending[p.GroupID] = true
			}
		}},
		{Name: "created", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionCreate), ok), Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionCreateParams
			var s protocol.Session
			if json.Unmarshal(f.RPC.Params, &p) == nil && json.Unmarshal(f.RPC.Result, &s) == nil && toClient[s.UUID.String()] == "" {
				alias(s.UUID, p.GroupID)
			}
		}},
		// sessionCreate may reach the other members before the creator's response: its group is
		// the one group with a create under way that the receiver belongs to
		{Name: "announced", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionCreate), Apply: func(f *faultproxy.Frame) {
			var s protocol.Session
			if json.Unmarshal(f.RPC.Payload, &s) != nil || toClient[s.UUID.String()] != "" {
				return
			}
			var groups []uuid.UUID
			for g := range pending {
				if tg := tr.Group(g); tg != nil && slices.Contains(tg.Members, f.Conn) {
					groups = append(groups, g)
				}
			}
			if len(groups) == 1 {
				alias(s.UUID, groups[0])
			}
		}},
		{Name: "show", Dir: faultproxy.ToClient, Apply: func(f *faultproxy.Frame) {
			if len(toClient) > 0 && !f.Binary {
				f.Replace(uuidText.ReplaceAllFunc(f.Data, func(id []byte) []byte {
					if g, ok := toClient[string(id)]; ok {
						return []byte(g)
					}
					return id
				}))
			}
		}},
		// in a request the group uuid comes first; a later occurrence names the session
		{Name: "translate", Dir: faultproxy.ToRelay, Match: faultproxy.Request(""), Apply: func(f *faultproxy.Frame) {
			if len(toRelay) == 0 {
				return
			}
			seen := map[string]bool{}
			f.Replace(uuidText.ReplaceAllFunc(f.Data, func(id []byte) []byte {
				s, ok := toRelay[string(id)]
				if !ok {
					return id
				}
				if seen[string(id)] {
					return []byte(s)
				}
				seen[string(id)] = true
				return id
			}))
		}},
	}
}

func pastEventsReplayed() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	keygens := map[uuid.UUID][]json.RawMessage{} // group → its keygen sessions' objects
	return []faultproxy.Rule{
		{Name: "keygens", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionCreate), ok), Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionCreateParams
			if json.Unmarshal(f.RPC.Params, &p) == nil && p.Kind == protocol.KindKeygen {
				keygens[p.GroupID] = append(keygens[p.GroupID], f.RPC.Result)
			}
		}},
		// before the tracker's rule, so a re-join is told from a first join
		{Name: "replay", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), ok), Apply: func(f *faultproxy.Frame) {
			var g protocol.Group
			if json.Unmarshal(f.RPC.Result, &g) != nil {
				return
			}
			if tg := tr.Group(g.UUID); tg != nil && slices.Contains(tg.Members, f.Conn) {
				return
			}
			for _, s := range keygens[g.UUID] {
				f.Inject(f.Conn, faultproxy.ToClient, event(protocol.EventSessionCreate, s))
			}
		}},
		tr.Rule(),
	}
}
