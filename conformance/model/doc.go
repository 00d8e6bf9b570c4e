// Package model is a reference model of the relay protocol (../../shared/PROTOCOL.md): a pure,
// single-threaded state machine of groups, members, sessions, party numbers, finish sets and
// connections, written from the protocol text and sharing nothing with the reference relay but
// the wire names of relay/protocol.
//
// For every frame a client sends, the model predicts the frames every connection must receive:
// the response (result or error code) and the exact events, with their payloads. The caller
// feeds the frames the relay really sent (Receive); a frame no prediction admits is a Mismatch.
//
// Where the protocol allows several behaviours (COMPAT, SHOULD, INFO, and the few points it leaves
// open), the model keeps one candidate world per combination the relay could have chosen. A world
// makes a choice the first time a request depends on it and keeps it: worlds whose predictions
// the relay's frames contradict are dropped, so the model learns the relay's choice on first sight
// and holds the relay to it afterwards. The same branching covers the one thing a client cannot
// observe directly: when the relay processes a connection's close (§6.1), which may happen any
// time until the close grace has passed.
//
// Ordering is per connection (§1.3): each world keeps, per connection, the queue of frames it still
// expects there. Frames of different connections may arrive in any interleaving.
package model
