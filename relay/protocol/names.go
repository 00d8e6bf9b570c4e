package protocol

// Method names (§4).
const (
	MethodGroupCreate    = "Group.create"
	MethodGroupJoin      = "Group.join"
	MethodSessionCreate  = "Session.create"
	MethodSessionJoin    = "Session.join"
	MethodSessionSignup  = "Session.signup"
	MethodSessionLoad    = "Session.load"
	MethodSessionMessage = "Session.message"
	MethodSessionFinish  = "Session.finish"
	MethodNotifyProposal = "Notify.proposal"
	MethodNotifySigned   = "Notify.signed"
)

// Methods lists every method of §4, in section order.
var Methods = []string{
	MethodGroupCreate, MethodGroupJoin, MethodSessionCreate, MethodSessionJoin,
	MethodSessionSignup, MethodSessionLoad, MethodSessionMessage, MethodSessionFinish,
	MethodNotifyProposal, MethodNotifySigned,
}

// VoidMethods return nothing: the original omits "result", JSON-RPC wants "result":null (§2.2).
var VoidMethods = map[string]bool{
	MethodSessionMessage: true,
	MethodSessionFinish:  true,
	MethodNotifyProposal: true,
	MethodNotifySigned:   true,
}

// Event names (§2.4, §4).
const (
	EventSessionCreate  = "sessionCreate"  // payload Session (§4.3)
	EventSessionSignup  = "sessionSignup"  // payload session uuid string (§4.5)
	EventSessionLoad    = "sessionLoad"    // payload session uuid string (§4.6)
	EventSessionMessage = "sessionMessage" // payload Message (§4.7)
	EventSessionClosed  = "sessionClosed"  // payload ascending []uint16 (§4.8)
	EventNotifyProposal = "notifyProposal" // payload Proposal (§4.9)
	EventNotifySigned   = "notifySigned"   // payload any JSON value (§4.10)
)

// Events lists every event name.
var Events = []string{
	EventSessionCreate, EventSessionSignup, EventSessionLoad, EventSessionMessage,
	EventSessionClosed, EventNotifyProposal, EventNotifySigned,
}
