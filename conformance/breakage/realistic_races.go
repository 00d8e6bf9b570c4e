package breakage

// Races of the second red-team pass (realistic.go lists them): state read, an await, state
// written — loads of one session and the closes of a group's last members. Like the races of
// realistic_unreached.go, only requests (or closes) of different connections at once show them.

import (
	"encoding/json"
	"slices"
	"strconv"
	"time"

	"github.com/google/uuid"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// concurrentLoadsSameNumber answers a load that races with another connection's load of the
// same number in the session with that number, as if it were free.
func concurrentLoadsSameNumber() []faultproxy.Rule {
	r := newRacer(func(f *faultproxy.Frame) (string, bool) {
		var p protocol.SessionLoadParams
		err := json.Unmarshal(f.RPC.Params, &p) // before the key is read from it
		return p.SessionID.String() + "/" + strconv.Itoa(int(p.Number)), err == nil
	})
	return []faultproxy.Rule{
		{Name: "see", Dir: faultproxy.ToRelay, Match: faultproxy.Request(protocol.MethodSessionLoad), Apply: func(f *faultproxy.Frame) { r.see(f) }},
		{Name: "answer-late", Dir: faultproxy.ToClient, Match: faultproxy.ResponseTo(protocol.MethodSessionLoad), Apply: func(f *faultproxy.Frame) {
			r.hold(f)
			var p protocol.SessionLoadParams
			if r.raced(f) != nil && f.RPC.Error != nil && json.Unmarshal(f.RPC.Params, &p) == nil {
				success(f, p.Number)
			}
		}},
	}
}

// concurrentLoadsEventTwice sends sessionLoad twice to the parties of a session two of whose
// loads, from different connections, raced.
func concurrentLoadsEventTwice() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	raced := map[uuid.UUID]bool{}
	doubled := map[uuid.UUID]map[*faultproxy.Conn]bool{}
	r := newRacer(func(f *faultproxy.Frame) (string, bool) {
		var p protocol.SessionLoadParams
		err := json.Unmarshal(f.RPC.Params, &p) // before the key is read from it
		return p.SessionID.String(), err == nil
	})
	return []faultproxy.Rule{tr.Rule(),
		{Name: "see", Dir: faultproxy.ToRelay, Match: faultproxy.Request(protocol.MethodSessionLoad), Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionLoadParams
			if _, prev := r.see(f); prev != nil && json.Unmarshal(f.RPC.Params, &p) == nil {
				raced[p.SessionID] = true
			}
		}},
		{Name: "answer-late", Dir: faultproxy.ToClient, Match: faultproxy.ResponseTo(protocol.MethodSessionLoad), Apply: r.hold},
		{Name: "twice", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionLoad), Apply: func(f *faultproxy.Frame) {
			var id uuid.UUID
			if json.Unmarshal(f.RPC.Payload, &id) != nil || !raced[id] || doubled[id][f.Conn] {
				return
			}
			if doubled[id] == nil {
				doubled[id] = map[*faultproxy.Conn]bool{}
			}
			doubled[id][f.Conn] = true
			f.Duplicate()
		}},
	}
}

// concurrentClosesKeepGroup answers a join of a group whose last two members closed within
// raceHold of each other with the group, as a relay whose count lost one decrement would. The
// relay's await after reading the count lasts raceHold when nothing else happens (a lone close
// ends the same either way), so two closes within raceHold race: the barrier of the racer,
// for closes, which the proxy sees but does not hold.
func concurrentClosesKeepGroup() []faultproxy.Rule {
	tr := faultproxy.NewTracker() // never forgets a member
	created := map[uuid.UUID]protocol.Group{}
	return []faultproxy.Rule{tr.Rule(),
		groupsCreated(created),
		{Name: "keep", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupJoin), faultproxy.ErrorResponse(protocol.CodeInternal)), Apply: func(f *faultproxy.Frame) {
			var p protocol.GroupJoinParams
			if json.Unmarshal(f.RPC.Params, &p) != nil || f.RPC.Error.ClosesConnection() {
				return
			}
			g, known := created[p.GroupID]
			tg := tr.Group(p.GroupID)
			if !known || tg == nil || len(tg.Members) < 2 {
				return
			}
			var ends []time.Time
			for _, m := range tg.Members {
				if !m.Closed() {
					return
				}
				ends = append(ends, m.ClosedAt())
			}
			slices.SortFunc(ends, func(a, b time.Time) int { return a.Compare(b) })
			if last := len(ends) - 1; ends[last].Sub(ends[last-1]) < raceHold {
				success(f, g) // the last two closes raced: the count stayed at 1
			}
		}},
	}
}
