package breakage

// The fourth red-team pass keeps its candidates: every bug it tried, caught or not, so that the
// "before" column of README's round-4 table can be re-run from main
// (MPCRELAY_CANDIDATES=1 go test -run TestSuiteVersusCandidates ./conformance). The bugs the
// suite passed are also in Realistic (or RealisticOnCompat) with their Rule, and a case of that
// rule now catches each; a candidate without a Rule breaks no rule PROTOCOL.md states (left
// open, README says why).

import (
	"bytes"
	"encoding/json"
	"math/big"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// Candidates are the fourth pass's bugs, behind the strict reference relay.
var Candidates = []Breakage{
	// §1 WebSocket (RFC 6455): the proxy forwards the client's pings and the relay's pongs, and
	// tells rules about a ping between a message's fragments and a client that left
	{Name: "ws-ping-unanswered", Description: "§1.1 pings never answered (a read loop on a low-level WebSocket library that handles text, binary and close only)", Rule: "1.1.websocket-control-frames", Rules: wsPingUnanswered},
	{Name: "ws-pong-empty", Description: "§1.1 a ping answered with an empty pong (`Ping(_) => send(Pong(vec![]))`), not its application data", Rule: "1.1.websocket-control-frames", Rules: wsPongEmpty},
	{Name: "ws-ping-between-fragments-loses-message", Description: "§1.1 a hand-written frame assembler that drops the message it was assembling when a control frame comes between its fragments", Rule: "1.1.websocket-control-frames", Rules: wsPingBetweenFragments},
	{Name: "cut-connection-keeps-membership", Description: "§6.1 members removed in the close-frame handler only: a connection whose TCP connection is cut (no close frame: a phone losing signal, a killed tab) stays a member for good", Rule: "6.1.closed-member-removed", Rules: cutConnectionKeepsMembership},
	{Name: "frame-limit-exactly-1mib-refused", Description: "§4.7 the 1 MiB frame limit checked with >= (a frame of exactly 1,048,576 bytes closed with 1009)", Rule: "4.7.frame-limit-1mib", Rules: frameLimitOffByOne, Cases: []string{"4.7/frames-of-1mib-and-more"}},
	{Name: "events-over-1mib-dropped", Description: "§4.7 a read limit above 1 MiB but a write limit of 1 MiB: a message accepted in a frame over 1 MiB is answered but its event never written", Rule: "4.7.frame-limit-1mib", Rules: eventsOver1MiBDropped, Cases: []string{"4.7/frames-of-1mib-and-more"}},
	{Name: "binary-requests-executed", Description: "§1.2 binary frames read like text (`Text(s) | Binary(s) => handle(s)`): a request in a binary frame is executed and answered", Rule: "1.2.binary-frame-ignored", Rules: binaryRequestsExecuted},

	// §2 envelopes
	{Name: "id-above-int64-wraps", Description: "§2.2 ids kept in an i64: an id of 2^63 or more echoed wrapped to a negative number", Rule: "2.2.success-envelope", Rules: idAboveInt64Wraps},
	{Name: "string-id-escapes-lost", Description: `§2.2 responses built by concatenation: a string id is echoed as its decoded text between quotes ("a\"b" → "a"b", not JSON)`, Rule: "2.2.success-envelope", Rules: stringIDEscapesLost},
	{Name: "fractional-id-truncated", Description: "§2.2 a fractional id (7.5) echoed as an integer (7)", Rules: fractionalIDTruncated},
	{Name: "jsonrpc-version-unchecked", Description: `§2.1 requests whose "jsonrpc" is not "2.0" ("1.0") executed like 2.0 ones`, Rules: jsonrpcVersionUnchecked},

	// §3.6 state shared or bounded
	{Name: "live-groups-evicted-lru-64", Description: "§3.6 the group table an LRU cache of 64 groups: the 65th group evicts the least recently used one, members or not; requests naming it find no group", Rule: "3.6.groups-independent", Rules: liveGroupsEvicted, Cases: []string{"3.6/many-groups-none-evicted"}},
	{Name: "groups-idle-2s-expire", Description: "§6.1 groups nobody named for 2 s expire while their members are connected (an idle sweep that does not look at connections)", Rules: groupsIdleExpire},
	{Name: "sessions-per-group-lru-16", Description: "§3.6 a group's sessions in an LRU cache of 16: its 17th session evicts the least recently used one, running or not", Rule: "3.6.sessions-independent", Rules: sessionsPerGroupEvicted, Cases: []string{"3.6/many-sessions-none-evicted"}},
	{Name: "p2p-routed-by-group-and-number", Description: "§3.6 peer-to-peer routes keyed by (group, number): a message to party n goes to the holder of n in the group's first session that has one", Rule: "3.6.sessions-independent", Rules: p2pRoutedByGroupAndNumber},
	{Name: "session-create-event-to-first-group", Description: "§3.6 the caller's group taken as the first it joined: a keygen session created in its second group announces itself to the other members of the first", Rule: "3.6.groups-independent", Rules: sessionCreateToFirstGroup},

	// §4.5/§4.6 numbering and completion
	{Name: "signup-fills-lowest-free-number", Description: "§4.5 Session.signup issues the lowest number no party holds (gap filling), not one more than the last issued or loaded", Rule: "4.5.numbers-from-one", Rules: signupFillsLowestFree},
	{Name: "mixed-loads-and-signups-never-complete", Description: "§4.5/§4.6 signups and loads counted apart: a session completed by some loads and some signups sends no event", Rule: "4.6.event-at-required-count", Rules: mixedNeverComplete},
	{Name: "signed-value-over-64kib-dropped", Description: "§4.10 Notify.signed values over 64 KiB (a column size) answered but never sent", Rule: "4.10.signed-to-non-parties", Rules: signedValueOver64KiBDropped},

	// §1.3 ordering, §2.1 notifications
	{Name: "events-overtaken-by-responses", Description: "§1.3 responses on a fast lane and events on a slow one: an event written after the response to the caller's next request", Rule: "1.3.stream-order", Rules: eventsOvertaken},
	{Name: "notification-before-close-dropped", Description: "§2.1 requests run, in order, by a worker that lags the reader (50 ms on a loaded relay) and that the close frame cancels, queue and all: a notification sent right before closing (Notify.signed, then leave) is never executed", Rule: "2.1.notification-executed", Rules: notificationBeforeCloseDropped},
}

// CandidatesOnCompat are the fourth pass's bugs of forks of the original (behind the compat
// relay): a COMPAT behaviour changed the wrong way.
var CandidatesOnCompat = []Breakage{
	{Name: "compat-repeat-finish-listed-twice", Description: "§4.8 (compat) finishers kept in a list that a repeated finish appends to: the repeated sessionClosed lists the repeater twice ([1,2,2])", Rule: "4.8.closed-to-every-party", Rules: repeatFinishListedTwice},
	{Name: "compat-join-kind-from-params", Description: "§4.4 (compat) the original reads kind from the params, and a fork builds Session.join's answer from them too: joining a keygen session as \"sign\" answers kind sign", Rule: "4.4.join-returns-session", Rules: joinKindFromParams},
	{Name: "compat-proposer-made-member", Description: "§4.9 (compat) a fork that accepts a non-member's proposal by adding the proposer to the group: it then gets the group's later proposals", Rule: "4.9.proposal-to-other-members", Rules: proposerMadeMember},
}

// control matches the control frames of kind ("ping", "pong", "close").
func control(kind string) func(*faultproxy.Frame) bool {
	return func(f *faultproxy.Frame) bool { return f.Control == kind }
}

func wsPingUnanswered() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "no-pong", Control: true, Dir: faultproxy.ToRelay, Match: control("ping"), Apply: (*faultproxy.Frame).Drop}}
}

func wsPongEmpty() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "empty", Control: true, Dir: faultproxy.ToClient, Match: control("pong"), Apply: func(f *faultproxy.Frame) { f.Replace(nil) }}}
}

func wsPingBetweenFragments() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "lose", Dir: faultproxy.ToRelay, Match: func(f *faultproxy.Frame) bool { return f.PingInside }, Apply: (*faultproxy.Frame).Drop}}
}

func cutConnectionKeepsMembership() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "unnoticed", Control: true, Dir: faultproxy.ToRelay, Match: func(f *faultproxy.Frame) bool { return f.Control == "close" && f.CloseCode == 0 }, Apply: (*faultproxy.Frame).Drop}}
}

func frameLimitOffByOne() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "limit", Dir: faultproxy.ToRelay, Match: func(f *faultproxy.Frame) bool { return len(f.Data) >= 1<<20 }, Apply: func(f *faultproxy.Frame) { f.Close(1009, "message too big") }}}
}

func eventsOver1MiBDropped() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "write-limit", Dir: faultproxy.ToClient, Match: func(f *faultproxy.Frame) bool { return f.RPC.Kind == faultproxy.KindEvent && len(f.Data) > 1<<20 }, Apply: (*faultproxy.Frame).Drop}}
}

func binaryRequestsExecuted() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "as-text", Dir: faultproxy.ToRelay, Match: func(f *faultproxy.Frame) bool {
		_, _, err := protocol.DecodeRequest(f.Data)
		return f.Binary && err == nil
	}, Apply: func(f *faultproxy.Frame) { f.Binary = false }}}
}

// replaceID rewrites the id of a response to id.
func replaceID(f *faultproxy.Frame, id string) {
	f.Replace(bytes.Replace(f.Data, []byte(`"id":`+string(f.RPC.ID)), []byte(`"id":`+id), 1))
}

func response(f *faultproxy.Frame) bool {
	return f.RPC.Kind == faultproxy.KindResponse && len(f.RPC.ID) > 0
}

func idAboveInt64Wraps() []faultproxy.Rule {
	limit := new(big.Int).Lsh(big.NewInt(1), 63)
	wrap := new(big.Int).Lsh(big.NewInt(1), 64)
	return []faultproxy.Rule{{Name: "i64", Dir: faultproxy.ToClient, Match: response, Apply: func(f *faultproxy.Frame) {
		n, ok := new(big.Int).SetString(string(f.RPC.ID), 10)
		if ok && n.Cmp(limit) >= 0 && n.Cmp(wrap) < 0 {
			replaceID(f, n.Sub(n, wrap).String())
		}
	}}}
}

func stringIDEscapesLost() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "concat", Dir: faultproxy.ToClient, Match: response, Apply: func(f *faultproxy.Frame) {
		var s string
		if json.Unmarshal(f.RPC.ID, &s) == nil && string(f.RPC.ID) != `"`+s+`"` {
			replaceID(f, `"`+s+`"`)
		}
	}}}
}

func fractionalIDTruncated() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "int", Dir: faultproxy.ToClient, Match: response, Apply: func(f *faultproxy.Frame) {
		id := string(f.RPC.ID)
		if i := strings.IndexAny(id, ".eE"); i > 0 && id[0] != '"' {
			var x float64
			if json.Unmarshal(f.RPC.ID, &x) == nil {
				b, _ := json.Marshal(int64(x))
				replaceID(f, string(b))
			}
		}
	}}}
}

func jsonrpcVersionUnchecked() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "any-version", Dir: faultproxy.ToRelay, Match: func(f *faultproxy.Frame) bool { return !f.Binary && f.RPC.Kind == faultproxy.KindOther }, Apply: func(f *faultproxy.Frame) {
		var m map[string]json.RawMessage
		if json.Unmarshal(f.Data, &m) != nil || m["jsonrpc"] == nil || string(m["jsonrpc"]) == `"2.0"` || m["method"] == nil {
			return
		}
		m["jsonrpc"] = json.RawMessage(`"2.0"`)
		if b, err := json.Marshal(m); err == nil {
			if _, _, perr := protocol.DecodeRequest(b); perr == nil {
				f.Replace(b)
			}
		}
	}}}
}

// groupOf is the group a request names (Group.join's bare string, the first element of the
// other methods' params), or uuid.Nil.
func groupOf(r faultproxy.RPC) uuid.UUID {
	var id uuid.UUID
	if r.Method == protocol.MethodGroupJoin {
		_ = json.Unmarshal(r.Params, &id)
		return id
	}
	var arr []json.RawMessage
	if json.Unmarshal(r.Params, &arr) == nil && len(arr) > 0 {
		_ = json.Unmarshal(arr[0], &id)
	}
	return id
}

// sessionOf is the session a request names (the second element of its params), or uuid.Nil.
func sessionOf(r faultproxy.RPC) uuid.UUID {
	var id uuid.UUID
	var arr []json.RawMessage
	if r.Method != protocol.MethodGroupJoin && json.Unmarshal(r.Params, &arr) == nil && len(arr) > 1 {
		_ = json.Unmarshal(arr[1], &id)
	}
	return id
}

// lru keeps keys in the order of their last use and evicts past its size.
type lru struct {
	size    int
	order   []uuid.UUID
	evicted map[uuid.UUID]bool
}

func newLRU(size int) *lru { return &lru{size: size, evicted: map[uuid.UUID]bool{}} }

// use moves key to the front (adding it when add), evicting the least recently used past size.
func (l *lru) use(key uuid.UUID, add bool) {
	if i := slices.Index(l.order, key); i >= 0 {
		l.order = slices.Delete(l.order, i, i+1)
	} else if !add {
		return
	}
	l.order = append(l.order, key)
	if len(l.order) > l.size {
		l.evicted[l.order[0]] = true
		l.order = l.order[1:]
	}
}

// refuseEvicted answers a request naming an evicted key "does not exist".
func refuseEvicted(f *faultproxy.Frame, id uuid.UUID) {
	f.Replace(protocol.EncodeError(f.RPC.ID, protocol.ErrGroupNotFound(id)))
}

func liveGroupsEvicted() []faultproxy.Rule {
	cache := newLRU(64)
	return []faultproxy.Rule{{Name: "lru", Dir: faultproxy.ToClient, Match: response, Apply: func(f *faultproxy.Frame) {
		if f.RPC.Method == protocol.MethodGroupCreate {
			var id uuid.UUID
			if ok(f) && json.Unmarshal(f.RPC.Result, &id) == nil {
				cache.use(id, true)
			}
			return
		}
		g := groupOf(f.RPC)
		if g == uuid.Nil {
			return
		}
		if cache.evicted[g] {
			refuseEvicted(f, g)
			return
		}
		cache.use(g, false)
	}}}
}

func groupsIdleExpire() []faultproxy.Rule {
	last := map[uuid.UUID]time.Time{}
	return []faultproxy.Rule{{Name: "sweep", Dir: faultproxy.ToClient, Match: response, Apply: func(f *faultproxy.Frame) {
		if f.RPC.Method == protocol.MethodGroupCreate {
			var id uuid.UUID
			if ok(f) && json.Unmarshal(f.RPC.Result, &id) == nil {
				last[id] = f.At
			}
			return
		}
		g := groupOf(f.RPC)
		if at, seen := last[g]; seen {
			if f.At.Sub(at) > 2*time.Second {
				refuseEvicted(f, g)
				return
			}
			last[g] = f.At
		}
	}}}
}

// pick returns the breakages of list named names, in that order (it panics on a name list lacks:
// a slip in a list written by hand, seen by every test at once).
func pick(list []Breakage, names ...string) []Breakage {
	var out []Breakage
	for _, n := range names {
		i := slices.IndexFunc(list, func(b Breakage) bool { return b.Name == n })
		if i < 0 {
			panic("breakage: no candidate named " + n)
		}
		out = append(out, list[i])
	}
	return out
}

func sessionsPerGroupEvicted() []faultproxy.Rule {
	caches := map[uuid.UUID]*lru{}
	return []faultproxy.Rule{{Name: "lru", Dir: faultproxy.ToClient, Match: response, Apply: func(f *faultproxy.Frame) {
		g := groupOf(f.RPC)
		if g == uuid.Nil {
			return
		}
		c := caches[g]
		if c == nil {
			c = newLRU(16)
			caches[g] = c
		}
		if f.RPC.Method == protocol.MethodSessionCreate {
			var s protocol.Session
			if ok(f) && json.Unmarshal(f.RPC.Result, &s) == nil {
				c.use(s.UUID, true)
			}
			return
		}
		s := sessionOf(f.RPC)
		if s == uuid.Nil || f.RPC.Method == protocol.MethodNotifyProposal || f.RPC.Method == protocol.MethodNotifySigned {
			return
		}
		if c.evicted[s] {
			refuseEvicted(f, s)
			return
		}
		c.use(s, false)
	}}}
}

func p2pRoutedByGroupAndNumber() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "by-group", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
		m, s, decoded := messageEvent(tr, f)
		if !decoded || s == nil || m.Broadcast() {
			return
		}
		for _, first := range tr.SessionsOf(s.Group) { // in creation order
			if c := first.Parties[uint16(*m.Receiver)]; c != nil {
				if first != s && c != f.Conn {
					f.Drop()
					f.Inject(c, faultproxy.ToClient, f.Data)
				}
				return
			}
		}
	}}}
}

func sessionCreateToFirstGroup() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	firstGroup := map[*faultproxy.Conn]uuid.UUID{}
	creator := map[uuid.UUID]*faultproxy.Conn{}
	return []faultproxy.Rule{tr.Rule(),
		{Name: "first", Dir: faultproxy.ToClient, Match: response, Apply: func(f *faultproxy.Frame) {
			if !ok(f) {
				return
			}
			switch f.RPC.Method {
			case protocol.MethodGroupCreate, protocol.MethodGroupJoin:
				var id uuid.UUID
				var g protocol.Group
				if json.Unmarshal(f.RPC.Result, &id) != nil && json.Unmarshal(f.RPC.Result, &g) == nil {
					id = g.UUID
				}
				if _, seen := firstGroup[f.Conn]; !seen && id != uuid.Nil {
					firstGroup[f.Conn] = id
				}
			case protocol.MethodSessionCreate:
				var s protocol.Session
				if json.Unmarshal(f.RPC.Result, &s) == nil {
					creator[s.UUID] = f.Conn
				}
			}
		}},
		{Name: "misaddress", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionCreate), Apply: func(f *faultproxy.Frame) {
			var s protocol.Session
			if json.Unmarshal(f.RPC.Payload, &s) != nil {
				return
			}
			c := creator[s.UUID]
			ts := tr.Session(s.UUID)
			if c == nil || ts == nil || firstGroup[c] == ts.Group || firstGroup[c] == uuid.Nil {
				return
			}
			f.Drop() // this member of the session's group is not told; the first group's are
			if g := tr.Group(firstGroup[c]); g != nil && f.Conn == firstOther(tr.Group(ts.Group), c) {
				for _, m := range g.Members {
					if m != c && !m.Closed() {
						f.Inject(m, faultproxy.ToClient, f.Data)
					}
				}
			}
		}},
	}
}

// firstOther is the first member of g other than c (nil when none): a rule acting once per
// event uses it to pick one of the event's frames.
func firstOther(g *faultproxy.TrackedGroup, c *faultproxy.Conn) *faultproxy.Conn {
	if g == nil {
		return nil
	}
	for _, m := range g.Members {
		if m != c {
			return m
		}
	}
	return nil
}

func signupFillsLowestFree() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{{Name: "lowest", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionSignup), ok), Apply: func(f *faultproxy.Frame) {
		var p protocol.SessionParams
		if json.Unmarshal(f.RPC.Params, &p) != nil {
			return
		}
		s := tr.Session(p.SessionID)
		n := uint16(1)
		for s != nil && s.Parties[n] != nil {
			n++
		}
		success(f, n)
	}}, tr.Rule()} // after: the tracker records the number this relay answered
}

func mixedNeverComplete() []faultproxy.Rule {
	loads := map[uuid.UUID]int{}
	signups := map[uuid.UUID]int{}
	return []faultproxy.Rule{
		{Name: "count", Dir: faultproxy.ToRelay, Match: func(f *faultproxy.Frame) bool {
			return f.RPC.IsRequest(protocol.MethodSessionSignup) || f.RPC.IsRequest(protocol.MethodSessionLoad)
		}, Apply: func(f *faultproxy.Frame) {
			if id, decoded := partySession(f.RPC.Params); decoded {
				if f.RPC.Method == protocol.MethodSessionLoad {
					loads[id]++
				} else {
					signups[id]++
				}
			}
		}},
		{Name: "never", Dir: faultproxy.ToClient, Match: func(f *faultproxy.Frame) bool {
			return f.RPC.IsEvent(protocol.EventSessionSignup) || f.RPC.IsEvent(protocol.EventSessionLoad)
		}, Apply: func(f *faultproxy.Frame) {
			var id uuid.UUID
			if json.Unmarshal(f.RPC.Payload, &id) == nil && loads[id] > 0 && signups[id] > 0 {
				f.Drop()
			}
		}},
	}
}

func signedValueOver64KiBDropped() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "column", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventNotifySigned), Apply: func(f *faultproxy.Frame) {
		if len(f.RPC.Payload) > 64<<10 {
			f.Drop()
		}
	}}}
}

func eventsOvertaken() []faultproxy.Rule {
	return []faultproxy.Rule{faultproxy.Reorder("slow-lane", faultproxy.ToClient, faultproxy.Event(""), 20*time.Millisecond)}
}

// notificationBeforeCloseDropped passes a connection's text frames to the relay 50 ms after
// they came, in order, from a queue that the connection's close discards: a relay whose worker
// lags its reader (a loaded relay) and which cancels the worker, queue and all, on the close.
func notificationBeforeCloseDropped() []faultproxy.Rule {
	type queued struct {
		data []byte
		due  time.Time
	}
	queues := map[*faultproxy.Conn]chan queued{}
	return []faultproxy.Rule{{Name: "worker", Dir: faultproxy.ToRelay, Match: func(f *faultproxy.Frame) bool { return !f.Binary }, Apply: func(f *faultproxy.Frame) {
		q, running := queues[f.Conn]
		if !running {
			q = make(chan queued, 1<<16)
			queues[f.Conn] = q
			go func(c *faultproxy.Conn) {
				for {
					select {
					case x := <-q:
						time.Sleep(time.Until(x.due))
						if !c.Closed() {
							_ = c.Send(faultproxy.ToRelay, x.data)
						}
					case <-time.After(time.Second):
						if c.Closed() {
							return
						}
					}
				}
			}(f.Conn)
		}
		f.Drop()
		q <- queued{f.Data, f.At.Add(50 * time.Millisecond)}
	}}}
}

func repeatFinishListedTwice() []faultproxy.Rule {
	calls := map[uuid.UUID][]uint16{}
	return []faultproxy.Rule{
		{Name: "calls", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionFinish), ok), Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionFinishParams
			if json.Unmarshal(f.RPC.Params, &p) == nil {
				calls[p.SessionID] = append(calls[p.SessionID], p.Number)
			}
		}},
		{Name: "list", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionClosed), Apply: func(f *faultproxy.Frame) {
			var nums []uint16
			if json.Unmarshal(f.RPC.Payload, &nums) != nil {
				return
			}
			for _, c := range calls {
				if len(c) > len(nums) && sameSet(c, nums) {
					all := slices.Clone(c)
					slices.Sort(all)
					f.Replace(event(protocol.EventSessionClosed, all))
					return
				}
			}
		}},
	}
}

// sameSet reports whether calls holds exactly the numbers of nums, some maybe more than once.
func sameSet(calls, nums []uint16) bool {
	for _, n := range calls {
		if !slices.Contains(nums, n) {
			return false
		}
	}
	for _, n := range nums {
		if !slices.Contains(calls, n) {
			return false
		}
	}
	return true
}

func joinKindFromParams() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "kind", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionJoin), ok), Apply: func(f *faultproxy.Frame) {
		var p protocol.SessionParams
		var s protocol.Session
		if json.Unmarshal(f.RPC.Params, &p) == nil && json.Unmarshal(f.RPC.Result, &s) == nil && s.Kind != p.Kind {
			s.Kind = p.Kind
			success(f, s)
		}
	}}}
}

func proposerMadeMember() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	ghosts := map[uuid.UUID][]*faultproxy.Conn{}
	return []faultproxy.Rule{tr.Rule(), {Name: "ghost", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodNotifyProposal), ok), Apply: func(f *faultproxy.Frame) {
		var p protocol.NotifyProposalParams
		if json.Unmarshal(f.RPC.Params, &p) != nil {
			return
		}
		g := tr.Group(p.GroupID)
		if g == nil {
			return
		}
		if !slices.Contains(g.Members, f.Conn) {
			if !slices.Contains(ghosts[p.GroupID], f.Conn) {
				ghosts[p.GroupID] = append(ghosts[p.GroupID], f.Conn)
			}
			return
		}
		for _, c := range ghosts[p.GroupID] {
			if c != f.Conn && !c.Closed() {
				f.Inject(c, faultproxy.ToClient, event(protocol.EventNotifyProposal, protocol.Proposal{SessionID: p.SessionID.String(), ProposalID: p.ProposalID, Message: p.Message}))
			}
		}
	}}}
}
