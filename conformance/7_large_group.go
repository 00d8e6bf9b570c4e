package conformance

import (
	"fmt"
	"slices"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// largeParties is the size of the large group: past the 16 and 32 bits of the masks and
// fixed-size arrays relays keep members and parties in, and past the explorer's six connections.
const largeParties = 40

func init() {
	register("7", "Typical flows",
		// §7 keygen with n parties, n = 40: every event reaches every connection its rule names
		// (§4.3, §4.5, §4.7, §4.8, §4.9), whatever its place in the group or its party number.
		&Case{
			ID: "7/forty-party-keygen",
			Requirement: fmt.Sprintf("In a group of %d members, a keygen session reaches all of them: sessionCreate to the %d others, sessionSignup to every party, "+
				"a broadcast to every other party, a message to party %d, sessionClosed [1..%d] to every party, and notifyProposal from the last member to every other.",
				largeParties, largeParties-1, largeParties, largeParties),
			Level: Must, Labels: []string{"flows", "events", "routing"},
			Run: func(t *T) {
				g := t.NewGroup(largeParties, 1, largeParties)
				s := g.NewSession(protocol.KindKeygen, "forty")
				for _, m := range g.Members[1:] {
					m.WaitEvent(protocol.EventSessionCreate, s.ID)
				}
				for i, m := range g.Members {
					if n := s.Signup(m); n != uint16(i+1) {
						t.Failf(fmt.Sprintf("party number %d for %s", i+1, m.Name), "%d", n)
					}
				}
				for _, m := range g.Members {
					m.WaitEvent(protocol.EventSessionSignup, s.ID)
				}

				first, last := g.Members[0], g.Members[largeParties-1]
				all, one := s.msg(1, 0, "to all"), s.msg(1, largeParties, "to the last")
				s.Message(first, all)
				for _, m := range g.Members[1:] {
					expectMessage(t, m, s.ID, all)
				}
				s.Message(first, one)
				expectMessage(t, last, s.ID, one)

				want := make([]uint16, largeParties)
				for i := range want {
					want[i] = uint16(i + 1)
				}
				for _, m := range s.Parties {
					m.Finish(g.ID, s.ID, s.Number[m])
				}
				for _, m := range s.Parties {
					nums, err := m.WaitEvent(protocol.EventSessionClosed, uuid.Nil).AsParties()
					if err != nil || !slices.Equal(nums, want) {
						t.Failf(fmt.Sprintf("sessionClosed [1..%d] on %s", largeParties, m.Name), "%v (%v)", nums, err)
					}
				}

				last.OK(protocol.MethodNotifyProposal, protocol.NotifyProposalParams{GroupID: g.ID, SessionID: s.ID, ProposalID: "p", Message: "forty"}, nil)
				for _, m := range g.Members[:largeParties-1] {
					m.WaitEvent(protocol.EventNotifyProposal, uuid.Nil)
				}
				t.ExpectNoEvent("", uuid.Nil, g.Members...)
			},
		},
	)
}
