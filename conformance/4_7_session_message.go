package conformance

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

func init() {
	register("4.7", "Session.message",
		// §4.7: broadcast: event sessionMessage to every party of the session except the caller;
		// the relay forwards round, sender, receiver, uuid and body unchanged.
		&Case{
			ID:          "4.7/broadcast-reaches-every-other-party",
			Requirement: "A broadcast reaches every other party of the session with round, sender, uuid and body unchanged.",
			Level:       Must, Labels: []string{"routing", "events"},
			Run: func(t *T) {
				s := t.ReadyKeygen(3, 1)
				a := s.Parties[0]
				m := protocol.Message{Round: 7, Sender: s.Number[a], UUID: s.ID, Body: mustJSON(map[string]any{"commit": "abc", "n": []int{1, 2}})}
				s.Message(a, m)
				for _, c := range s.Parties[1:] {
					expectMessage(t, c, s.ID, m)
				}
			},
		},
		&Case{
			ID:          "4.7/broadcast-not-echoed-to-sender",
			Requirement: "A broadcast is not sent back to the party that sent it.",
			Level:       Must, Labels: []string{"routing", "events"},
			Run: func(t *T) {
				s := t.ReadyKeygen(2, 1)
				a, b := s.Parties[0], s.Parties[1]
				s.Message(a, s.msg(s.Number[a], 0, "hello"))
				b.WaitEvent(protocol.EventSessionMessage, s.ID)
				t.ExpectNoEvent(protocol.EventSessionMessage, uuid.Nil, a)
			},
		},
		// §4.7: a broadcast goes to every party of the session except the caller — the caller's
		// connection, whatever the message's sender names (§3.5: the relay routes on receiver only
		// and forwards sender unchanged; a connection holding two numbers may send as either).
		&Case{
			ID:          "4.7/broadcast-skips-the-caller-not-the-sender-field",
			Requirement: "A broadcast from party 2 whose sender field names party 1 reaches parties 1 and 3, with sender 1 unchanged, and not party 2.",
			Level:       Must, Labels: []string{"routing", "events"},
			Run: func(t *T) {
				s := t.ReadyKeygen(3, 1)
				a, b, c := s.Parties[0], s.Parties[1], s.Parties[2]
				m := s.msg(s.Number[a], 0, "sent by B with A's number as sender")
				s.Message(b, m)
				expectMessage(t, a, s.ID, m)
				expectMessage(t, c, s.ID, m)
				t.ExpectNoEvent(protocol.EventSessionMessage, uuid.Nil, b)
			},
		},
		// §4.7: Group members that are not parties of the session receive nothing (MUST).
		&Case{
			ID:          "4.7/broadcast-not-to-non-parties",
			Requirement: "A broadcast reaches no group member that is not a party of the session, and no connection outside the group.",
			Level:       Must, Labels: []string{"routing", "events", "security"},
			Run: func(t *T) {
				s := t.Ready(protocol.KindSign, 3, 1, 3)
				a, b, d := s.Parties[0], s.Parties[1], s.G.Members[2]
				x := t.Dial("X")
				x.CreateGroup(t.Label(), 2, 1)
				s.Message(a, s.msg(s.Number[a], 0, "secret round data"))
				b.WaitEvent(protocol.EventSessionMessage, s.ID)
				t.ExpectNoEvent(protocol.EventSessionMessage, uuid.Nil, d, x)
			},
		},
		// §4.7: receiver number: sessionMessage to the connection holding that party number, and
		// to no one else.
		&Case{
			ID:          "4.7/peer-to-peer-only-to-receiver",
			Requirement: "A message with a receiver reaches the connection holding that party number and no one else.",
			Level:       Must, Labels: []string{"routing", "events", "security"},
			Run: func(t *T) {
				s := t.Ready(protocol.KindSign, 4, 2, 4)
				a, b, c, d := s.Parties[0], s.Parties[1], s.Parties[2], s.G.Members[3]
				m := s.msg(s.Number[a], s.Number[c], map[string]string{"share": "for C only"})
				s.Message(a, m)
				expectMessage(t, c, s.ID, m)
				t.ExpectNoEvent(protocol.EventSessionMessage, uuid.Nil, a, b, d)
			},
		},
		// §4.7, §3.5: a message's members are "round", "sender", "receiver", "uuid" and "body",
		// named exactly, as the original's serde reads them; any other member is ignored. So a
		// message whose receiver is spelled "Receiver" has no receiver and is a broadcast, and
		// "Receiver" beside "receiver" changes nothing. A relay that matches names
		// case-insensitively (Go's encoding/json does) sends the first to party 2 alone and the
		// second to party 2 instead of party 3.
		&Case{
			ID:          "4.7/receiver-member-name-is-exact",
			Requirement: `A message with "Receiver":2 and no "receiver" is a broadcast: both other parties get it; one with "receiver":3 and "Receiver":2 goes to party 3 alone.`,
			Level:       Must, Labels: []string{"routing", "events", "objects"},
			Run: func(t *T) {
				s := t.ReadyKeygen(3, 1)
				a, b, c := s.Parties[0], s.Parties[1], s.Parties[2]
				a.OK(protocol.MethodSessionMessage, rawf(`[%q,%q,"keygen",{"round":1,"sender":%d,"Receiver":%d,"uuid":%q,"body":"for everyone"}]`,
					s.G.ID, s.ID, s.Number[a], s.Number[b], s.ID), nil)
				broadcast := protocol.Message{Round: 1, Sender: s.Number[a], UUID: s.ID, Body: mustJSON("for everyone")}
				expectMessage(t, b, s.ID, broadcast)
				expectMessage(t, c, s.ID, broadcast)
				a.OK(protocol.MethodSessionMessage, rawf(`[%q,%q,"keygen",{"round":2,"sender":%d,"receiver":%d,"Receiver":%d,"uuid":%q,"body":"for C"}]`,
					s.G.ID, s.ID, s.Number[a], s.Number[c], s.Number[b], s.ID), nil)
				expectMessage(t, c, s.ID, protocol.Message{Round: 2, Sender: s.Number[a], Receiver: protocol.Receiver(s.Number[c]), UUID: s.ID, Body: mustJSON("for C")})
				t.ExpectNoEvent(protocol.EventSessionMessage, uuid.Nil, a, b)
			},
		},
		// §4.7: an unknown receiver → -32603.
		&Case{
			ID:          "4.7/peer-to-peer-unknown-receiver",
			Requirement: "A message to a receiver number no party holds (9, or 0: a number, not the absence of one) is refused with error -32603, and no one receives it.",
			Level:       Must, Labels: []string{"routing", "errors"},
			Run: func(t *T) {
				s := t.ReadyKeygen(2, 1)
				a, b := s.Parties[0], s.Parties[1]
				a.ExpectError(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: s.G.ID, SessionID: s.ID, Kind: s.Kind, Message: s.msg(1, 9, "x")}, protocol.CodeInternal)
				zero := s.msg(1, 0, "to number 0")
				zero.Receiver = protocol.Receiver(0)
				a.ExpectError(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: s.G.ID, SessionID: s.ID, Kind: s.Kind, Message: zero}, protocol.CodeInternal)
				t.ExpectNoEvent(protocol.EventSessionMessage, uuid.Nil, a, b)
			},
		},
		// §4.7: a message goes to the connection holding the receiver's number in the session
		// now. A relay that frees a departed party's number (§6.1 allows it) and lets another
		// connection load it must route there, not along a route kept from the first holder.
		&Case{
			ID:          "4.7/peer-to-peer-reaches-a-reloaded-number",
			Requirement: "When party 2 of a session disconnects and the relay lets another connection load number 2 again, a message to 2 reaches that connection and no one else (a relay that keeps the departed number refuses the load: nothing to check).",
			Level:       Must, Labels: []string{"routing", "lifecycle", "load"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				a, b, c := g.Members[0], g.Members[1], g.Members[2]
				s := g.NewJoinedSession(protocol.KindKeygen, nil)
				a.Load(g.ID, s.ID, s.Kind, 1)
				b.Load(g.ID, s.ID, s.Kind, 2)
				first := s.msg(1, 2, "to B")
				s.Message(a, first) // the route to number 2 is used while B holds it
				expectMessage(t, b, s.ID, first)
				_ = b.Close()
				<-b.Done()
				if !s.Reload(t, c, 2) {
					return
				}
				again := s.msg(1, 2, "to C, who holds 2 now")
				s.Message(a, again)
				expectMessage(t, c, s.ID, again)
				t.ExpectNoEvent(protocol.EventSessionMessage, uuid.Nil, a, c)
			},
		},
		&Case{
			ID:          "4.7/message-unknown-session",
			Requirement: "Session.message for an unknown session is refused with error -32603.",
			Level:       Must, Labels: []string{"routing", "errors"},
			Run: func(t *T) {
				a := t.Dial("A")
				g := a.CreateGroup(t.Label(), 2, 1)
				sid := uuid.New()
				a.ExpectError(protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: g, SessionID: sid, Kind: protocol.KindKeygen,
					Message: protocol.Message{Round: 1, Sender: 1, UUID: sid, Body: mustJSON("x")}}, protocol.CodeInternal)
			},
		},
		// §4.7: body arrives as equal JSON — every JSON type, as the whole body.
		&Case{
			ID:          "4.7/body-every-json-type",
			Requirement: `Bodies of every JSON type (0, "", false, null, big and precise numbers, escapes, Unicode, nesting) arrive as equal JSON, broadcast and peer-to-peer.`,
			Level:       Must, Labels: []string{"routing"},
			Run: func(t *T) {
				s := t.ReadyKeygen(2, 1)
				a, b := s.Parties[0], s.Parties[1]
				for i, v := range jsonValues {
					m := protocol.Message{Round: uint16(i + 1), Sender: s.Number[a], UUID: s.ID, Body: v}
					s.Message(a, m)
					expectMessage(t, b, s.ID, m)
					m = protocol.Message{Round: uint16(i + 1), Sender: s.Number[b], Receiver: protocol.Receiver(s.Number[a]), UUID: s.ID, Body: v}
					s.Message(b, m)
					expectMessage(t, a, s.ID, m)
				}
			},
		},
		bodyCase("4.7/body-intact-structured", "A structured body (nesting, unicode, big and negative numbers, escapes) arrives as equal JSON.", nil, false),
		bodyCase("4.7/body-intact-256kib", "A 256 KiB body (beyond 64 KiB frames) arrives intact.", bigBody(256<<10), false),
		bodyCase("4.7/body-intact-1mib", "A body filling a 1 MiB frame arrives intact, broadcast and peer-to-peer.", bigBody(1<<20-2048), true),
		// §4.7: the limit is "at least 1 MiB": a frame of exactly 1,048,576 bytes is within it
		// (a limit checked with >= refuses it); and a body is delivered "whatever its size up to
		// the relay's frame limit", so a larger frame the relay accepts must arrive too (a relay
		// that reads up to 16 MiB but writes events up to 1 MiB answers it and drops its event).
		&Case{
			ID:          "4.7/frames-of-1mib-and-more",
			Requirement: "A Session.message frame of exactly 1 MiB is accepted and its body delivered; a frame of 1.25 MiB, when the relay accepts it, is delivered too (refusing it is the relay's limit: info).",
			Level:       Must, Labels: []string{"routing", "slow"},
			Run: func(t *T) {
				s := t.ReadyKeygen(2, 1)
				a, b := s.Parties[0], s.Parties[1]
				for _, size := range []int{1 << 20, 1<<20 + 256<<10} {
					id := a.NextID()
					frame, m := messageFrameOfSize(s, a, id, size)
					ctx, cancel := t.ctxTimeout()
					err := a.Send(ctx, frame)
					cancel()
					f, answered := a.WaitUnmatched(t.cfg.Timeout)
					var in protocol.Incoming
					if answered {
						in, err = protocol.DecodeIncoming(f.Data)
					}
					switch {
					case size == 1<<20 && (!answered || err != nil || in.Error != nil || string(in.ID) != fmt.Sprint(id)):
						t.Failf(fmt.Sprintf("a success answering the frame of exactly %d bytes (request %d)", size, id), "%s (%v; connection: %s)", f.Data, err, a.closedErr())
					case !answered || err != nil || in.Error != nil:
						t.Info("a frame of %d bytes refused (the relay's limit): %s %s", size, f.Data, a.closedErr())
						return
					}
					expectMessage(t, b, s.ID, m)
				}
			},
		},
	)
}

// messageFrameOfSize builds a Session.message request frame of exactly size bytes (a broadcast
// from c whose body is a string padded to fit) and returns it with its message.
func messageFrameOfSize(s *Session, c *Conn, id uint64, size int) ([]byte, protocol.Message) {
	build := func(pad int) ([]byte, protocol.Message) {
		m := s.msg(s.Number[c], 0, strings.Repeat("x", pad))
		frame, _ := protocol.NewRequest(id, protocol.MethodSessionMessage, protocol.SessionMessageParams{GroupID: s.G.ID, SessionID: s.ID, Kind: s.Kind, Message: m})
		return frame, m
	}
	frame, _ := build(size)
	return build(2*size - len(frame))
}

func bigBody(n int) json.RawMessage {
	var b strings.Builder
	b.WriteByte('"')
	for i := 0; b.Len() < n; i++ {
		fmt.Fprintf(&b, "%08x", uint32(i)*2654435761)
	}
	b.WriteByte('"')
	return json.RawMessage(b.String())
}

var structuredBody = json.RawMessage(`{"round":"r1","values":[1,-2,3.25,1e21,12345678901234567890],"text":"ünïcødé ✓ \"quoted\" \\ \n","empty":{},"list":[[],[null,true,false]],"hex":"0x00ff"}`)

// §4.7: MUST: body arrives as equal JSON, whatever its size up to the relay's frame limit, which
// MUST be at least 1 MiB.
func bodyCase(id, req string, body json.RawMessage, p2p bool) *Case {
	if body == nil {
		body = structuredBody
	}
	labels := []string{"routing"}
	if len(body) > 512<<10 {
		labels = append(labels, "slow")
	}
	return &Case{
		ID: id, Requirement: req, Level: Must, Labels: labels,
		Run: func(t *T) {
			s := t.ReadyKeygen(3, 1)
			a, b, c := s.Parties[0], s.Parties[1], s.Parties[2]
			m := protocol.Message{Round: 1, Sender: s.Number[a], UUID: s.ID, Body: body}
			s.Message(a, m)
			expectMessage(t, b, s.ID, m)
			expectMessage(t, c, s.ID, m)
			if p2p {
				m.Receiver = protocol.Receiver(s.Number[a])
				m.Sender = s.Number[b]
				s.Message(b, m)
				expectMessage(t, a, s.ID, m)
			}
		},
	}
}

// expectMessage waits for a sessionMessage on c and checks it equals m field by field (body as
// equal JSON, numbers exact: equalJSON).
func expectMessage(t *T, c *Conn, session uuid.UUID, m protocol.Message) {
	ev := c.WaitEvent(protocol.EventSessionMessage, session)
	got, err := ev.AsMessage()
	if err != nil {
		t.Failf("a message object as sessionMessage payload", "%s (%v)", short(ev.Payload), err)
	}
	if got.Round != m.Round || got.Sender != m.Sender || got.UUID != m.UUID {
		t.Failf(fmt.Sprintf("round %d, sender %d, uuid %s on %s", m.Round, m.Sender, m.UUID, c.Name), "round %d, sender %d, uuid %s", got.Round, got.Sender, got.UUID)
	}
	if (got.Receiver == nil) != (m.Receiver == nil) || (got.Receiver != nil && *got.Receiver != *m.Receiver) {
		t.Failf(fmt.Sprintf("receiver %v on %s", fmtReceiver(m.Receiver), c.Name), "%v", fmtReceiver(got.Receiver))
	}
	if string(got.Body) != string(m.Body) {
		if ok, why := equalJSON(m.Body, got.Body); !ok {
			t.Failf(fmt.Sprintf("body equal to the %d bytes sent, on %s", len(m.Body), c.Name), "%d bytes: %s (%s)", len(got.Body), short(got.Body), why)
		}
	}
}

func fmtReceiver(r *uint16) string {
	if r == nil {
		return "null"
	}
	return fmt.Sprint(*r)
}
