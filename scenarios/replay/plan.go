package replay

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"
	"strings"

	"mpcrelay/relay/protocol"
	"mpcrelay/scenarios/trace"
)

// Dependency rules: which earlier deliveries a replayed message waits for.
const (
	// RuleRound: a party sends its round-r messages once it has received every message addressed
	// to it in rounds before r — the round structure of GG18 and EdDSA in tss-lib.
	RuleRound = "round"
	// RuleOffset: a party sends a message once it has received every message addressed to it
	// that was sent earlier in the recording. Used when the rounds of a session do not explain
	// its recorded order (the round rule would then make a party wait for a later message).
	RuleOffset = "offset"
)

// plan is a trace session prepared for replay: members are indexed 0..k-1 in trace order.
type plan struct {
	s      *trace.Session
	kind   protocol.SessionKind
	params protocol.Parameters
	rule   string
	msgs   []pmsg
	sends  [][]int // member → its messages in recorded order
	// slots[j] is how many deliveries member j expects.
	slots []int
	total int // deliveries expected in one replay of the session
}

type pmsg struct {
	round     uint16
	sender    int   // member index
	receiver  int   // member index, -1 for a broadcast
	receivers []int // member indexes it must reach
	slot      []int // member → index of this delivery among the member's, -1 if not a receiver
	need      int   // how many of the sender's deliveries (in slot order) must have arrived first
	body      []byte
}

// newPlan orders every member's expected deliveries by the dependency rule, so that "the inputs
// of a message have arrived" is "the first need deliveries have arrived".
func newPlan(s *trace.Session, withBodies bool) (*plan, error) {
	p := &plan{s: s, kind: protocol.SessionKind(s.Kind),
		params: protocol.Parameters{Parties: uint16(s.Parties), Threshold: uint16(s.Threshold)}}
	if want := p.kind.Required(p.params); len(s.Members) != want {
		return nil, fmt.Errorf("trace session %q: %d members, but a %s session of %d-of-%d needs %d (§4.5)",
			s.ID, len(s.Members), s.Kind, s.Threshold+1, s.Parties, want)
	}
	index := map[uint16]int{}
	for i, n := range s.Members {
		index[n] = i
	}
	k := len(s.Members)
	p.sends = make([][]int, k)
	p.slots = make([]int, k)
	for i := range s.Messages {
		tm := &s.Messages[i]
		m := pmsg{round: tm.Round, sender: index[tm.Sender], receiver: -1, slot: make([]int, k)}
		if tm.Receiver != nil {
			m.receiver = index[*tm.Receiver]
		}
		for _, r := range s.Receivers(tm) {
			m.receivers = append(m.receivers, index[r])
		}
		body, err := replayBody(i, tm, withBodies)
		if err != nil {
			return nil, fmt.Errorf("trace session %q message %d: %w", s.ID, i, err)
		}
		m.body = body
		p.msgs = append(p.msgs, m)
		p.sends[m.sender] = append(p.sends[m.sender], i)
	}
	p.rule = RuleRound
	if !p.order(func(a, b int) bool { return p.msgs[a].round < p.msgs[b].round }) {
		p.rule = RuleOffset
		p.order(func(a, b int) bool { return s.Messages[a].OffsetUS < s.Messages[b].OffsetUS })
	}
	return p, nil
}

// order assigns slots and needs under the relation before(a, b) = "a is an input of b when a
// reaches b's sender". It reports false when some input was recorded after the message that
// waits for it, i.e. the rule would not be causal for this recording.
func (p *plan) order(before func(a, b int) bool) bool {
	causal := true
	msgs := p.s.Messages
	for j := range p.sends {
		var in []int
		for i := range p.msgs {
			p.msgs[i].slot[j] = -1
			for _, r := range p.msgs[i].receivers {
				if r == j {
					in = append(in, i)
				}
			}
		}
		sort.SliceStable(in, func(x, y int) bool { return before(in[x], in[y]) })
		for s, i := range in {
			p.msgs[i].slot[j] = s
		}
		p.slots[j] = len(in)
		for _, out := range p.sends[j] {
			need := sort.Search(len(in), func(x int) bool { return !before(in[x], out) })
			p.msgs[out].need = need
			for _, i := range in[:need] {
				if msgs[i].OffsetUS > msgs[out].OffsetUS {
					causal = false
				}
			}
		}
	}
	p.total = 0
	for _, n := range p.slots {
		p.total += n
	}
	return causal
}

// replayBody is what a replayed message carries: its index in the session (so the receiver can
// check it) and either the recorded body or padding up to the recorded size.
func replayBody(i int, m *trace.Message, withBodies bool) ([]byte, error) {
	if withBodies && m.Body != nil {
		return json.Marshal(struct {
			K    int             `json:"k"`
			Body json.RawMessage `json:"body"`
		}{i, m.Body})
	}
	head := `{"k":` + strconv.Itoa(i) + `,"pad":"`
	pad := max(0, m.Size-len(head)-2)
	return []byte(head + strings.Repeat("x", pad) + `"}`), nil
}

// bodyIndex reads the message index back out of a replayed body, which starts {"k":N, — only
// that prefix is parsed: the receiver then compares the whole body byte for byte (intact), so
// a corrupted body is caught either way without decoding a 178 KB padding twice.
func bodyIndex(body []byte) (int, bool) {
	const head = `{"k":`
	if !bytes.HasPrefix(body, []byte(head)) {
		return 0, false
	}
	n, digits := 0, 0
	for _, c := range body[len(head):] {
		if c < '0' || c > '9' {
			break
		}
		if digits++; digits > 9 {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, digits > 0
}

// expectBody is the body message k was sent with, nil for an index the plan does not have.
func (p *plan) expectBody(k int) []byte {
	if k < 0 || k >= len(p.msgs) {
		return nil
	}
	return p.msgs[k].body
}

// appendFrame writes the Session.message request of message i (§4.7). The body and the rest of
// the frame are fixed by the plan; only the request id, the group and session uuids and the
// party numbers change from send to send, so the frame is put together by appending, with no
// encoder and no reflection.
func (p *plan) appendFrame(b []byte, i int, id uint64, group, session string, sender uint16, receiver int) []byte {
	m := &p.msgs[i]
	b = append(b, `{"jsonrpc":"2.0","id":`...)
	b = strconv.AppendUint(b, id, 10)
	b = append(b, `,"method":"Session.message","params":["`...)
	b = append(b, group...)
	b = append(b, `","`...)
	b = append(b, session...)
	b = append(b, `","`...)
	b = append(b, p.kind...)
	b = append(b, `",{"round":`...)
	b = strconv.AppendUint(b, uint64(m.round), 10)
	b = append(b, `,"sender":`...)
	b = strconv.AppendUint(b, uint64(sender), 10)
	b = append(b, `,"receiver":`...)
	if receiver < 0 {
		b = append(b, "null"...)
	} else {
		b = strconv.AppendUint(b, uint64(receiver), 10)
	}
	b = append(b, `,"uuid":"`...)
	b = append(b, session...)
	b = append(b, `","body":`...)
	b = append(b, m.body...)
	return append(b, "}]}"...)
}
