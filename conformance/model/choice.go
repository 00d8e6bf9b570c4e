package model

import "fmt"

// Choice is a point where PROTOCOL.md allows a relay more than one behaviour. Option 0 is the
// stricter reading (what a relay SHOULD do); the model learns which option a relay has.
type Choice int

const (
	VoidResult            Choice = iota // §2.2 void methods: "result":null | "result" omitted (COMPAT)
	NotificationError                   // §2.1 failing notification: nothing | error without id (COMPAT)
	InvalidFrameAnswer                  // §1.4 non-JSON / non-request frame: -32700/-32600 (SHOULD) | nothing (COMPAT)
	BatchAnswer                         // §1.2 batches (INFO): rejected with an error | ignored
	RejoinFullGroup                     // §4.2 a member re-joins a full group: idempotent | refused, close-connection (COMPAT)
	SignupBeyondRequired                // §4.5 signups beyond the required count: refused (SHOULD) | number issued, no event (COMPAT)
	LoadBeyondRequired                  // §4.6 loads beyond the required count: refused, as signups (4.5) | accepted
	RequiredCountKind                   // §4.5 the required count: from the session's kind | from the kind in the params (COMPAT)
	NextNumber                          // §4.5 next number when last+1 is held: skipped | issued again (the literal rule)
	RepeatedFinish                      // §4.8 a finish after sessionClosed: no event | sessionClosed again (COMPAT)
	ProposalFromNonMember               // §4.9 Notify.proposal from a non-member: refused (SHOULD) | delivered (COMPAT)
	CreateWithoutValue                  // §4.3 Session.create with [group, kind] (INFO): accepted, value null | -32602
	LoadKindSign                        // §4.6 Session.load with kind "sign" (INFO): accepted | -32602 | -32603
	ClosedPartyNumbers                  // §6.1 a closed connection's party numbers: freed (MAY) | left in the session (COMPAT)
	FanoutSignup                        // §4.5 a connection holding several party numbers: one sessionSignup per number | per connection
	FanoutLoad                          // §4.6 the same for sessionLoad
	FanoutClosed                        // §4.8 the same for sessionClosed
	FanoutBroadcast                     // §4.7 the same for a broadcast sessionMessage
	DuplicateHolder                     // §4.5 literal numbering can issue a number twice: the first holder | every holder owns it
	numChoices
)

type choiceInfo struct {
	name    string
	options []string
}

var choices = [numChoices]choiceInfo{
	VoidResult:            {"§2.2 void result", []string{`"result":null`, `"result" omitted`}},
	NotificationError:     {"§2.1 failing notification", []string{"nothing sent", "error object without id"}},
	InvalidFrameAnswer:    {"§1.4 invalid frame", []string{"answered -32700/-32600", "nothing sent"}},
	BatchAnswer:           {"§1.2 batch", []string{"rejected with an error", "ignored"}},
	RejoinFullGroup:       {"§4.2 member re-joining a full group", []string{"idempotent success", "refused with close-connection"}},
	SignupBeyondRequired:  {"§4.5 signup beyond the required count", []string{"refused -32603", "number issued, no event"}},
	LoadBeyondRequired:    {"§4.6 load beyond the required count", []string{"refused -32603", "accepted"}},
	RequiredCountKind:     {"§4.5 required count", []string{"from the session's kind", "from the kind in the params"}},
	NextNumber:            {"§4.5 next party number when last+1 is held", []string{"skips held numbers", "issues last+1 again"}},
	RepeatedFinish:        {"§4.8 finish after sessionClosed", []string{"no second sessionClosed", "sessionClosed again"}},
	ProposalFromNonMember: {"§4.9 proposal from a non-member", []string{"refused -32603", "delivered"}},
	CreateWithoutValue:    {"§4.3 Session.create without value", []string{"accepted (value null)", "refused -32602"}},
	LoadKindSign:          {`§4.6 Session.load with kind "sign"`, []string{"accepted", "refused -32602", "refused -32603"}},
	ClosedPartyNumbers:    {"§6.1 closed connection's party numbers", []string{"freed", "left in the session"}},
	FanoutSignup:          {"§4.5 sessionSignup to a connection holding several numbers", []string{"one per number", "one per connection"}},
	FanoutLoad:            {"§4.6 sessionLoad to a connection holding several numbers", []string{"one per number", "one per connection"}},
	FanoutClosed:          {"§4.8 sessionClosed to a connection holding several numbers", []string{"one per number", "one per connection"}},
	FanoutBroadcast:       {"§4.7 broadcast to a connection holding several numbers", []string{"one per number", "one per connection"}},
	DuplicateHolder:       {"§4.5 a number issued twice", []string{"the first holder owns it", "every holder owns it"}},
}

// Choices lists every choice point.
func Choices() []Choice {
	out := make([]Choice, numChoices)
	for i := range out {
		out[i] = Choice(i)
	}
	return out
}

func (c Choice) String() string {
	if c < 0 || c >= numChoices {
		return fmt.Sprintf("choice(%d)", int(c))
	}
	return choices[c].name
}

// Options names the behaviours a relay may choose at c, option 0 first.
func (c Choice) Options() []string { return choices[c].options }

// choiceSet is the behaviour a world assumes at each choice point; -1 = not yet decided.
type choiceSet [numChoices]int8

func undecided() choiceSet {
	var s choiceSet
	for i := range s {
		s[i] = -1
	}
	return s
}

// Strict pins every choice to option 0, the stricter reading; with CloseGrace 0 it makes the
// model a deterministic simulated relay (the explorer's generator uses it that way).
func Strict() map[Choice]int {
	out := map[Choice]int{}
	for _, c := range Choices() {
		out[c] = 0
	}
	return out
}
