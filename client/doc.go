// Package client is the Go SDK of the mpc-websocket protocol (../shared/PROTOCOL.md): Dial a
// relay, call its methods with typed params and results, and wait for its events.
//
// One goroutine reads the connection, so responses and events arrive in frame order (§1.3): a
// response is delivered before the events that follow it on the wire. Calls are safe for
// concurrent use; every wait takes a context. The raw layer (Call, CallRaw, Send, SendBinary,
// Unmatched, WithFrameHook) lets the conformance suite send malformed input and record transcripts.
package client
