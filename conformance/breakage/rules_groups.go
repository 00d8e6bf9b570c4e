package breakage

import (
	"encoding/json"
	"slices"

	"github.com/google/uuid"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// Breakages of the group rules (§4.1, §4.2, §4.3 membership, §6.1), listed in rules.go.

// refuseAndClose answers a Group.join with the full-group error and closes the connection, as a
// relay that believes the group full would (§4.2).
func refuseAndClose(f *faultproxy.Frame, group uuid.UUID) {
	_ = f.Conn.Send(faultproxy.ToClient, protocol.EncodeError(f.RPC.ID, protocol.ErrGroupFull(group)))
	f.Close(1000, "")
}

// createAccepts rewrites Group.create params that a rule refuses into ones it accepts (fix
// reports whether it changed them), so the relay creates a group the rule forbids.
func createAccepts(fix func(*protocol.Parameters) bool) func() []faultproxy.Rule {
	return only(faultproxy.Rule{Name: "accept", Dir: faultproxy.ToRelay, Match: faultproxy.Request(protocol.MethodGroupCreate), Apply: func(f *faultproxy.Frame) {
		var p protocol.GroupCreateParams
		if json.Unmarshal(f.RPC.Params, &p) == nil && fix(&p.Params) {
			request(f, p)
		}
	}})
}

func joinUnknownGroupAccepted() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "accept", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), faultproxy.ErrorResponse(0)),
		Apply: func(f *faultproxy.Frame) {
			var p protocol.GroupJoinParams
			if json.Unmarshal(f.RPC.Params, &p) == nil && tr.Group(p.GroupID) == nil && !f.RPC.Error.ClosesConnection() {
				success(f, protocol.Group{UUID: p.GroupID, Params: protocol.Parameters{Parties: 2, Threshold: 1}})
			}
		}}}
}

func rejoinTakesAPlace() []faultproxy.Rule {
	members := map[uuid.UUID][]*faultproxy.Conn{}
	params := map[uuid.UUID]protocol.Parameters{}
	extra := map[uuid.UUID]int{} // places taken by re-joins
	return []faultproxy.Rule{
		{Name: "created", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupCreate), ok), Apply: func(f *faultproxy.Frame) {
			var p protocol.GroupCreateParams
			var id uuid.UUID
			if json.Unmarshal(f.RPC.Params, &p) == nil && json.Unmarshal(f.RPC.Result, &id) == nil {
				members[id], params[id] = []*faultproxy.Conn{f.Conn}, p.Params
			}
		}},
		{Name: "join", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), ok), Apply: func(f *faultproxy.Frame) {
			var g protocol.Group
			if json.Unmarshal(f.RPC.Result, &g) != nil {
				return
			}
			switch {
			case slices.Contains(members[g.UUID], f.Conn):
				extra[g.UUID]++
			case len(members[g.UUID])+extra[g.UUID] >= int(g.Params.Parties):
				refuseAndClose(f, g.UUID)
			default:
				members[g.UUID] = append(members[g.UUID], f.Conn)
			}
		}},
	}
}

func nonMemberMessageAccepted() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "accept", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionMessage), faultproxy.ErrorResponse(protocol.CodeInternal)),
		Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionMessageParams
			if json.Unmarshal(f.RPC.Params, &p) != nil {
				return
			}
			if g := tr.Group(p.GroupID); g != nil && !slices.Contains(g.Members, f.Conn) {
				success(f, nil)
			}
		}}}
}

func createInUnknownGroupAccepted() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "accept", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionCreate), faultproxy.ErrorResponse(protocol.CodeInternal)),
		Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionCreateParams
			if json.Unmarshal(f.RPC.Params, &p) == nil && tr.Group(p.GroupID) == nil {
				v := p.Value
				if v == nil {
					v = json.RawMessage("null")
				}
				success(f, protocol.Session{UUID: uuid.New(), Kind: p.Kind, Value: v})
			}
		}}}
}

func emptyGroupKept() []faultproxy.Rule {
	created := map[uuid.UUID]protocol.Group{}
	return []faultproxy.Rule{
		groupsCreated(created),
		{Name: "keep", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), faultproxy.ErrorResponse(protocol.CodeInternal)), Apply: func(f *faultproxy.Frame) {
			var p protocol.GroupJoinParams
			if json.Unmarshal(f.RPC.Params, &p) != nil || f.RPC.Error.ClosesConnection() {
				return
			}
			if g, ok := created[p.GroupID]; ok {
				success(f, g)
			}
		}},
	}
}

func closedMemberKeepsPlace() []faultproxy.Rule {
	tr := faultproxy.NewTracker() // never forgets a member: its member lists are what this relay keeps
	return []faultproxy.Rule{tr.Rule(), {Name: "full", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), ok), Apply: func(f *faultproxy.Frame) {
		var g protocol.Group
		if json.Unmarshal(f.RPC.Result, &g) != nil {
			return
		}
		if tg := tr.Group(g.UUID); tg != nil && len(tg.Members) > int(tg.Params.Parties) {
			refuseAndClose(f, g.UUID)
		}
	}}}
}

// groupsCreated records, in into, the group object of every Group.create answered with success:
// the object a broken relay answers a join with.
func groupsCreated(into map[uuid.UUID]protocol.Group) faultproxy.Rule {
	return faultproxy.Rule{Name: "created", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupCreate), ok), Apply: func(f *faultproxy.Frame) {
		var p protocol.GroupCreateParams
		var id uuid.UUID
		if json.Unmarshal(f.RPC.Params, &p) == nil && json.Unmarshal(f.RPC.Result, &id) == nil {
			into[id] = protocol.Group{UUID: id, Params: p.Params, Label: p.Label}
		}
	}}
}
