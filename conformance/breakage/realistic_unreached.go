package breakage

// The realistic breakages the explorer does not reach (realistic.go lists them, each with the
// rule it breaks): races between connections, which runs of one step at a time never start;
// sessions holding high party numbers that all finish; a sender field naming another party; a
// message whose uuid field names another group's session; proposal texts of kilobytes; a
// connection arriving right after a party left. Hand-written cases of their rules catch them.

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// closedSortedAsText re-sorts each sessionClosed payload by the numbers' decimal text.
func closedSortedAsText() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "text-sort", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionClosed), Apply: func(f *faultproxy.Frame) {
		var nums []uint16
		if json.Unmarshal(f.RPC.Payload, &nums) != nil {
			return
		}
		sorted := slices.Clone(nums)
		slices.SortFunc(sorted, func(a, b uint16) int { return strings.Compare(strconv.Itoa(int(a)), strconv.Itoa(int(b))) })
		if !slices.Equal(sorted, nums) {
			f.Replace(event(protocol.EventSessionClosed, sorted))
		}
	}}}
}

// finishedIn64BitMask drops the sessionClosed of sessions holding a number of 64 or more: their
// finished count never reaches the parties.
func finishedIn64BitMask() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "mask", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionClosed), Apply: func(f *faultproxy.Frame) {
		var nums []uint16
		if json.Unmarshal(f.RPC.Payload, &nums) == nil && slices.ContainsFunc(nums, func(n uint16) bool { return n >= 64 }) {
			f.Drop()
		}
	}}}
}

// soleNumber is the one party number c holds in s (false when it holds none or several).
func soleNumber(s *faultproxy.TrackedSession, c *faultproxy.Conn) (uint16, bool) {
	var n uint16
	count := 0
	for num, pc := range s.Parties {
		if pc == c {
			n, count = num, count+1
		}
	}
	return n, count == 1
}

// broadcastExcludesSenderField: a broadcast whose sender field names another party than the
// caller's (each holding one number) is dropped for that party and echoed to the caller.
func broadcastExcludesSenderField() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	drops := map[msgTo]int{}
	echo := map[*faultproxy.Conn]map[string]protocol.Message{} // caller → request id → its broadcast, to echo after the response
	return []faultproxy.Rule{tr.Rule(),
		{Name: "skip-sender", Dir: faultproxy.ToRelay, Match: faultproxy.Request(protocol.MethodSessionMessage), Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionMessageParams
			if json.Unmarshal(f.RPC.Params, &p) != nil || !p.Message.Broadcast() {
				return
			}
			s := tr.Session(p.SessionID)
			if s == nil {
				return
			}
			named := s.Parties[p.Message.Sender]
			if _, ok := soleNumber(s, f.Conn); !ok || named == nil || named == f.Conn {
				return
			}
			if _, ok := soleNumber(s, named); !ok {
				return
			}
			drops[msgTo{named, messageKey(p.Message)}]++
			if f.RPC.ID != nil {
				if echo[f.Conn] == nil {
					echo[f.Conn] = map[string]protocol.Message{}
				}
				echo[f.Conn][string(f.RPC.ID)] = p.Message
			}
		}},
		{Name: "echo", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionMessage), ok), Apply: func(f *faultproxy.Frame) {
			if m, found := echo[f.Conn][string(f.RPC.ID)]; found {
				delete(echo[f.Conn], string(f.RPC.ID))
				f.Inject(f.Conn, faultproxy.ToClient, event(protocol.EventSessionMessage, m))
			}
		}},
		dropMarked(drops),
	}
}

// messageRoutedByUUIDField answers a member's Session.message whose uuid field names another
// session itself and delivers it into that session, as a relay looking the session up by the
// message's uuid (after checking membership of the params' group) would.
func messageRoutedByUUIDField() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	return []faultproxy.Rule{tr.Rule(), {Name: "by-uuid", Dir: faultproxy.ToRelay, Match: faultproxy.Request(protocol.MethodSessionMessage), Apply: func(f *faultproxy.Frame) {
		var p protocol.SessionMessageParams
		if json.Unmarshal(f.RPC.Params, &p) != nil || p.Message.UUID == p.SessionID {
			return
		}
		g := tr.Group(p.GroupID)
		if g == nil || !slices.Contains(g.Members, f.Conn) {
			return
		}
		s := tr.Session(p.Message.UUID)
		if s == nil {
			refuse(f, protocol.ErrSessionNotFound(p.Message.UUID))
			return
		}
		var to []*faultproxy.Conn
		if p.Message.Broadcast() {
			to = slices.DeleteFunc(s.PartyConns(), func(c *faultproxy.Conn) bool { return c == f.Conn })
		} else if c := s.Parties[*p.Message.Receiver]; c != nil {
			to = []*faultproxy.Conn{c}
		} else {
			refuse(f, protocol.ErrReceiverNotFound(*p.Message.Receiver))
			return
		}
		answer(f, nil)
		for _, c := range to {
			f.Inject(c, faultproxy.ToClient, event(protocol.EventSessionMessage, p.Message))
		}
	}}}
}

// proposalMessageLimit refuses Notify.proposal messages over 4 KiB.
func proposalMessageLimit() []faultproxy.Rule {
	return []faultproxy.Rule{{Name: "limit", Dir: faultproxy.ToRelay, Match: faultproxy.Request(protocol.MethodNotifyProposal), Apply: func(f *faultproxy.Frame) {
		var p protocol.NotifyProposalParams
		if json.Unmarshal(f.RPC.Params, &p) == nil && len(p.Message) > 4<<10 {
			refuse(f, protocol.ErrInternal("proposal message too long"))
		}
	}}}
}

// refuse drops a request and answers it with err (nothing for a notification).
func refuse(f *faultproxy.Frame, err *protocol.Error) {
	f.Drop()
	if f.RPC.ID != nil {
		f.Inject(f.Conn, faultproxy.ToClient, protocol.EncodeError(f.RPC.ID, err))
	}
}

// answer drops a request and answers it with result (nothing for a notification).
func answer(f *faultproxy.Frame, result any) {
	f.Drop()
	if f.RPC.ID != nil {
		if b, err := protocol.EncodeResult(f.RPC.ID, result); err == nil {
			f.Inject(f.Conn, faultproxy.ToClient, b)
		}
	}
}

// raceHold bounds the await of the racy relays below (a store call, a lock released and taken
// again, between reading a piece of state and writing it back). The await ends when a request
// of another connection with the same key arrives — it runs in the gap and races — or after
// raceHold when none comes. So the race is a barrier, not a window of time: requests that
// several connections write at once (T.AtOnce writes them all before it reads an answer) race
// whenever the second reaches the proxy within raceHold of the first, however the machine
// schedules them; a request alone is answered raceHold late.
const raceHold = time.Second

// racer holds the answer to a request until a request of another connection with the same key
// (keyOf returns it, and whether the request has one) arrives, and marks that one as raced.
type racer struct {
	open    map[string]*raceAwait                      // key → the request whose answer awaits
	openers map[*faultproxy.Conn]map[string]*raceAwait // connection → request id → its window
	racy    map[*faultproxy.Conn]map[string]*raceAwait // connection → request id → the window it raced in
	keyOf   func(*faultproxy.Frame) (string, bool)
}

// raceAwait is one request's await.
type raceAwait struct {
	conn     *faultproxy.Conn
	id       string // the request's id
	release  chan struct{}
	released bool      // a request raced in: the await is over
	until    time.Time // set when the answer arrives: the await ends by then
	number   uint16    // state the racy relay read when the request arrived (concurrentSignupsSameNumber)
}

func newRacer(keyOf func(*faultproxy.Frame) (string, bool)) *racer {
	return &racer{open: map[string]*raceAwait{}, openers: map[*faultproxy.Conn]map[string]*raceAwait{},
		racy: map[*faultproxy.Conn]map[string]*raceAwait{}, keyOf: keyOf}
}

func remember(m map[*faultproxy.Conn]map[string]*raceAwait, c *faultproxy.Conn, id string, w *raceAwait) {
	if m[c] == nil {
		m[c] = map[string]*raceAwait{}
	}
	m[c][id] = w
}

// see records a request: it awaits (own, its answer held until another connection's request
// with the key arrives), and if it arrived while another connection's request awaited, it
// raced with that one (prev, whose await it ends). Notifications do neither. Both requests of
// a race count as raced (raced finds prev for either answer): which one the relay answers
// first — the one the racy relay would have let through — is the relay's choice, and on a
// loaded machine often the one seen second.
func (r *racer) see(f *faultproxy.Frame) (own, prev *raceAwait) {
	k, named := r.keyOf(f)
	if !named || f.RPC.ID == nil {
		return nil, nil
	}
	if w := r.open[k]; w != nil && !w.released && (w.until.IsZero() || f.At.Before(w.until)) {
		if w.conn == f.Conn {
			return nil, nil // a connection's own requests run in order
		}
		w.released = true
		close(w.release)
		remember(r.racy, f.Conn, string(f.RPC.ID), w)
		if r.openers[w.conn][w.id] == w { // its answer has not come yet
			remember(r.racy, w.conn, w.id, w)
		}
		prev = w
	}
	own = &raceAwait{conn: f.Conn, id: string(f.RPC.ID), release: make(chan struct{})}
	r.open[k] = own
	remember(r.openers, f.Conn, string(f.RPC.ID), own)
	return own, prev
}

// hold holds the answer to a request that opened a window until one races in or raceHold
// passes.
func (r *racer) hold(f *faultproxy.Frame) {
	id := string(f.RPC.ID)
	if w := r.openers[f.Conn][id]; w != nil {
		delete(r.openers[f.Conn], id)
		w.until = time.Now().Add(raceHold)
		f.Await(w.release, raceHold)
	}
}

// raced returns (once) the window the request a response answers raced in (as the first of
// the two requests or the second), or nil.
func (r *racer) raced(f *faultproxy.Frame) *raceAwait {
	w := r.racy[f.Conn][string(f.RPC.ID)]
	if w != nil {
		delete(r.racy[f.Conn], string(f.RPC.ID))
	}
	return w
}

// concurrentSignupsSameNumber answers a signup that races with another connection's signup of
// the session with the number that one was issued.
func concurrentSignupsSameNumber() []faultproxy.Rule {
	last := map[uuid.UUID]uint16{} // session → last number the relay issued or loaded
	r := newRacer(func(f *faultproxy.Frame) (string, bool) {
		var p protocol.SessionParams
		err := json.Unmarshal(f.RPC.Params, &p) // before the key is read from it
		return p.SessionID.String(), err == nil
	})
	return []faultproxy.Rule{
		{Name: "read", Dir: faultproxy.ToRelay, Match: faultproxy.Request(protocol.MethodSessionSignup), Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionParams
			if own, _ := r.see(f); own != nil && json.Unmarshal(f.RPC.Params, &p) == nil {
				own.number = last[p.SessionID] + 1
			}
		}},
		{Name: "store", Dir: faultproxy.ToClient, Match: joinsParty, Apply: func(f *faultproxy.Frame) {
			id, named := partySession(f.RPC.Params)
			var n uint16
			if !named || json.Unmarshal(f.RPC.Result, &n) != nil {
				return
			}
			last[id] = max(last[id], n)
			if f.RPC.Method != protocol.MethodSessionSignup {
				return
			}
			r.hold(f) // the answer comes once the number is stored
			if w := r.raced(f); w != nil {
				success(f, w.number)
			}
		}},
	}
}

// concurrentFinishesCloseTwice sends sessionClosed twice to the parties of a session two of
// whose finishes, from different connections, raced.
func concurrentFinishesCloseTwice() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	raced := map[uuid.UUID]bool{}                        // sessions two connections finished in one window
	doubled := map[uuid.UUID]map[*faultproxy.Conn]bool{} // sessionClosed already doubled, per party
	r := newRacer(func(f *faultproxy.Frame) (string, bool) {
		var p protocol.SessionFinishParams
		err := json.Unmarshal(f.RPC.Params, &p) // before the key is read from it
		return p.SessionID.String(), err == nil
	})
	return []faultproxy.Rule{tr.Rule(),
		{Name: "see", Dir: faultproxy.ToRelay, Match: faultproxy.Request(protocol.MethodSessionFinish), Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionFinishParams
			if _, prev := r.see(f); prev != nil && json.Unmarshal(f.RPC.Params, &p) == nil {
				raced[p.SessionID] = true
			}
		}},
		{Name: "answer-late", Dir: faultproxy.ToClient, Match: faultproxy.ResponseTo(protocol.MethodSessionFinish), Apply: r.hold},
		{Name: "twice", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionClosed), Apply: func(f *faultproxy.Frame) {
			var nums []uint16
			if json.Unmarshal(f.RPC.Payload, &nums) != nil {
				return
			}
			for id := range raced {
				s := tr.Session(id)
				if s == nil || !s.IsParty(f.Conn) || doubled[id][f.Conn] || !slices.Equal(s.Numbers(), nums) {
					continue
				}
				if doubled[id] == nil {
					doubled[id] = map[*faultproxy.Conn]bool{}
				}
				doubled[id][f.Conn] = true
				f.Duplicate()
				return
			}
		}},
	}
}

// concurrentJoinsOverfill turns the full-group refusal of a join that raced with
// of another connection's join of that group into a success (the relay closes the connection;
// its client side stays open, a member in its own eyes).
func concurrentJoinsOverfill() []faultproxy.Rule {
	groups := map[uuid.UUID]protocol.Group{}
	r := newRacer(func(f *faultproxy.Frame) (string, bool) {
		var id uuid.UUID
		err := json.Unmarshal(f.RPC.Params, &id) // before the key is read from it
		return id.String(), err == nil
	})
	return []faultproxy.Rule{
		groupsCreated(groups),
		{Name: "see", Dir: faultproxy.ToRelay, Match: faultproxy.Request(protocol.MethodGroupJoin), Apply: func(f *faultproxy.Frame) { r.see(f) }},
		{Name: "answer-late", Dir: faultproxy.ToClient, Match: faultproxy.ResponseTo(protocol.MethodGroupJoin), Apply: func(f *faultproxy.Frame) {
			r.hold(f)
			var id uuid.UUID
			if r.raced(f) == nil || f.RPC.Error == nil || !f.RPC.Error.ClosesConnection() || json.Unmarshal(f.RPC.Params, &id) != nil {
				return
			}
			if g, known := groups[id]; known {
				f.Conn.KeepClientOpen() // the relay closes it; the racy relay thinks it a member
				success(f, g)
			}
		}},
	}
}

// closedConnectionSlotReused gives a new connection the slot of every connection that had closed
// when it arrived: the messages to the closed connections' party numbers (which a compat relay
// keeps in their sessions) and the broadcasts of their sessions are delivered to it. (A slab
// gives the slot to one of them; which one depends on what else connects meanwhile, so the proxy
// gives it to each: a case sees it whatever runs beside it.)
func closedConnectionSlotReused() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	var seen []*faultproxy.Conn
	heirs := map[*faultproxy.Conn][]*faultproxy.Conn{} // closed connection → the connections that took its slot
	return []faultproxy.Rule{tr.Rule(),
		{Name: "slot", Dir: faultproxy.ToRelay, Apply: func(f *faultproxy.Frame) {
			if slices.Contains(seen, f.Conn) {
				return
			}
			for _, c := range seen {
				if c.Closed() {
					heirs[c] = append(heirs[c], f.Conn)
				}
			}
			seen = append(seen, f.Conn)
		}},
		{Name: "deliver", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodSessionMessage), ok), Apply: func(f *faultproxy.Frame) {
			var p protocol.SessionMessageParams
			if json.Unmarshal(f.RPC.Params, &p) != nil {
				return
			}
			s := tr.Session(p.SessionID)
			if s == nil {
				return
			}
			var from []*faultproxy.Conn // the closed parties the message is for
			if p.Message.Broadcast() {
				from = slices.DeleteFunc(s.PartyConns(), func(c *faultproxy.Conn) bool { return c == f.Conn })
			} else if c := s.Parties[*p.Message.Receiver]; c != nil {
				from = []*faultproxy.Conn{c}
			}
			var to []*faultproxy.Conn
			for _, c := range from {
				for _, h := range heirs[c] {
					if !h.Closed() && h != f.Conn && !slices.Contains(to, h) {
						to = append(to, h)
					}
				}
			}
			for _, h := range to {
				f.Inject(h, faultproxy.ToClient, event(protocol.EventSessionMessage, p.Message))
			}
		}},
	}
}
