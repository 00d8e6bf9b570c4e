package conformance

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

func init() {
	register("4.9", "Notify.proposal",
		// §4.9: Event notifyProposal with {"sessionId","proposalId","message"} to every member of
		// the group except the caller.
		&Case{
			ID:          "4.9/proposal-to-other-members",
			Requirement: "Notify.proposal sends notifyProposal {sessionId, proposalId, message} to every other member of the group and to no one outside it.",
			Level:       Must, Labels: []string{"notify", "events"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				x := t.Dial("X")
				x.CreateGroup(t.Label(), 2, 1)
				s := g.NewSession(protocol.KindSign, "tx")
				g.Members[0].OK(protocol.MethodNotifyProposal, protocol.NotifyProposalParams{GroupID: g.ID, SessionID: s.ID, ProposalID: "prop-1", Message: "sign tx 0x01?"}, nil)
				want := protocol.Proposal{SessionID: s.ID.String(), ProposalID: "prop-1", Message: "sign tx 0x01?"}
				for _, m := range g.Members[1:] {
					ev := m.WaitEvent(protocol.EventNotifyProposal, uuid.Nil)
					got, err := ev.AsProposal()
					if err != nil || got != want {
						t.Failf(`{"sessionId":"`+want.SessionID+`","proposalId":"prop-1","message":"sign tx 0x01?"} on `+m.Name, "%s", ev.Payload)
					}
				}
				t.ExpectNoEvent(protocol.EventNotifyProposal, uuid.Nil, x)
			},
		},
		&Case{
			ID:          "4.9/proposal-not-to-sender",
			Requirement: "Notify.proposal sends no notifyProposal back to the caller.",
			Level:       Must, Labels: []string{"notify", "events"},
			Run: func(t *T) {
				g := t.NewGroup(2, 1, 2)
				s := g.NewSession(protocol.KindSign, nil)
				g.Members[0].OK(protocol.MethodNotifyProposal, protocol.NotifyProposalParams{GroupID: g.ID, SessionID: s.ID, ProposalID: "p", Message: "m"}, nil)
				g.Members[1].WaitEvent(protocol.EventNotifyProposal, uuid.Nil)
				t.ExpectNoEvent(protocol.EventNotifyProposal, uuid.Nil, g.Members[0])
			},
		},
		// §4.9: payload {"sessionId","proposalId","message"} (strings), exactly as sent.
		&Case{
			ID:          "4.9/proposal-strings-round-trip",
			Requirement: "notifyProposal carries proposalId and message exactly as sent, as strings: empty, accented, CJK, emoji, decomposed, escaped, separators, bidi controls, NUL, and a 256 KiB message (a transaction to sign).",
			Level:       Must, Labels: []string{"notify", "events"},
			Run: func(t *T) {
				g := t.NewGroup(2, 1, 2)
				s := g.NewSession(protocol.KindSign, nil)
				a, b := g.Members[0], g.Members[1]
				// a proposal's message typically carries the transaction to sign, which can be large:
				// the protocol bounds it by the frame limit only (§4.7: at least 1 MiB)
				var big string
				if err := json.Unmarshal(bigBody(256<<10), &big); err != nil {
					t.HarnessError("big message: %v", err)
				}
				for i, str := range append(slices.Clone(unicodeStrings), big) {
					id := fmt.Sprintf("%d %s", i, str)
					if str == big {
						id = fmt.Sprintf("%d: %d bytes", i, len(big))
					}
					a.OK(protocol.MethodNotifyProposal, protocol.NotifyProposalParams{GroupID: g.ID, SessionID: s.ID, ProposalID: id, Message: str}, nil)
					ev := b.WaitEvent(protocol.EventNotifyProposal, s.ID)
					want := map[string]string{"sessionId": s.ID.String(), "proposalId": id, "message": str}
					expectJSON(t, "notifyProposal payload", ev.Payload, mustJSON(want))
				}
			},
		},
		// §4.9: COMPAT: the original does not check that the caller is a member; a relay SHOULD
		// refuse non-members with -32603 (a security case).
		// §4.9: notifyProposal goes to the group's members — not to a connection that once pushed
		// a proposal into the group from outside (COMPAT accepts that push; a fork that
		// "accepts" it by making the pusher a member sends it the group's later proposals).
		&Case{
			ID:          "4.9/proposal-only-to-members",
			Requirement: "After a non-member's Notify.proposal into a group (refused, or accepted as COMPAT allows), a member's proposal reaches the other member and not the non-member.",
			Level:       Must, Labels: []string{"notify", "membership", "security"},
			Run: func(t *T) {
				g := t.NewGroup(2, 1, 2)
				s := g.NewSession(protocol.KindSign, nil)
				x := t.Dial("X")
				resp := x.Raw(protocol.MethodNotifyProposal, protocol.NotifyProposalParams{GroupID: g.ID, SessionID: s.ID, ProposalID: "outsider", Message: "pushed from outside"})
				t.Logf("the outsider's proposal: %s", resp.Raw)
				if resp.Error == nil {
					g.Members[1].WaitEvent(protocol.EventNotifyProposal, s.ID) // COMPAT: it went to the members
					g.Members[0].WaitEvent(protocol.EventNotifyProposal, s.ID)
				}
				g.Members[0].OK(protocol.MethodNotifyProposal, protocol.NotifyProposalParams{GroupID: g.ID, SessionID: s.ID, ProposalID: "member", Message: "from a member"}, nil)
				ev := g.Members[1].WaitEvent(protocol.EventNotifyProposal, s.ID)
				expectJSON(t, "notifyProposal payload", ev.Payload, mustJSON(protocol.Proposal{SessionID: s.ID.String(), ProposalID: "member", Message: "from a member"}))
				t.ExpectNoEvent(protocol.EventNotifyProposal, uuid.Nil, x)
			},
		},
		&Case{
			ID:          "4.9/proposal-from-non-member-refused",
			Requirement: "Notify.proposal from a connection outside the group is refused with error -32603 and reaches no member.",
			Level:       Should, Labels: []string{"notify", "membership", "security"},
			Run: func(t *T) {
				g := t.NewGroup(2, 1, 2)
				s := g.NewSession(protocol.KindSign, nil)
				x := t.Dial("X")
				resp := x.Raw(protocol.MethodNotifyProposal, protocol.NotifyProposalParams{GroupID: g.ID, SessionID: s.ID, ProposalID: "p", Message: "pushed by an outsider"})
				if resp.Error == nil {
					t.NonStrict("COMPAT: a non-member's proposal was accepted")
					return
				}
				if resp.Error.Code != protocol.CodeInternal {
					t.Failf("error -32603", "error %d", resp.Error.Code)
				}
				t.ExpectNoEvent(protocol.EventNotifyProposal, uuid.Nil, g.Members...)
			},
		},
	)
	register("4.10", "Notify.signed",
		// §4.10: Event notifySigned with value to every member of the group that is not a party
		// of the session.
		&Case{
			ID:          "4.10/signed-to-non-signers",
			Requirement: "Notify.signed sends notifySigned with the value to every member that is not a party of the session.",
			Level:       Must, Labels: []string{"notify", "events"},
			Run: func(t *T) {
				g := t.NewGroup(4, 1, 4)
				s := g.NewSession(protocol.KindSign, "tx")
				s.SignupAll(g.Members[0], g.Members[1])
				value := map[string]any{"r": "0x1f", "s": "0x2e", "recid": 1}
				g.Members[0].OK(protocol.MethodNotifySigned, protocol.NotifySignedParams{GroupID: g.ID, SessionID: s.ID, Value: mustJSON(value)}, nil)
				for _, m := range g.Members[2:] {
					ev := m.WaitEvent(protocol.EventNotifySigned, uuid.Nil)
					expectJSON(t, "notifySigned payload on "+m.Name, ev.Payload, mustJSON(value))
				}
			},
		},
		// §4.10: notifySigned with value as payload — any JSON, exactly.
		&Case{
			ID:          "4.10/signed-value-every-json-type",
			Requirement: `notifySigned carries the value exactly as sent, for values of every JSON type (0, "", false, null, big and precise numbers, escapes, Unicode, nesting).`,
			Level:       Must, Labels: []string{"notify", "events"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				s := g.NewSession(protocol.KindSign, "tx")
				s.SignupAll(g.Members[0], g.Members[1])
				// and a 256 KiB value (a signed transaction with its proofs), past a 64 KiB column
				for _, v := range append(slices.Clone(jsonValues), bigBody(256<<10)) {
					g.Members[0].OK(protocol.MethodNotifySigned, protocol.NotifySignedParams{GroupID: g.ID, SessionID: s.ID, Value: v}, nil)
					ev := g.Members[2].WaitEvent(protocol.EventNotifySigned, uuid.Nil)
					expectJSON(t, "notifySigned payload", ev.Payload, v)
				}
			},
		},
		&Case{
			ID:          "4.10/signed-not-to-signers",
			Requirement: "Notify.signed sends no notifySigned to the parties of the session, the caller included: while the session runs, and after it closed (§7: the signers finish, then one of them sends Notify.signed).",
			Level:       Must, Labels: []string{"notify", "events"},
			Run: func(t *T) {
				g := t.NewGroup(3, 1, 3)
				s := g.NewSession(protocol.KindSign, "tx")
				s.SignupAll(g.Members[0], g.Members[1])
				signed := func(from *Conn) {
					from.OK(protocol.MethodNotifySigned, protocol.NotifySignedParams{GroupID: g.ID, SessionID: s.ID, Value: mustJSON("sig")}, nil)
					g.Members[2].WaitEvent(protocol.EventNotifySigned, uuid.Nil)
					t.ExpectNoEvent(protocol.EventNotifySigned, uuid.Nil, g.Members[0], g.Members[1])
				}
				signed(g.Members[1])
				s.FinishAll()
				signed(g.Members[0])
			},
		},
	)
}
