// Package protocol holds the wire types of the mpc-websocket JSON-RPC protocol
// (../shared/PROTOCOL.md): envelopes (§2), objects (§3), method params (§4), event names and
// payloads, and error codes and texts (§5). The relay, the client and the conformance suite all
// speak through this package, so there is one definition of every frame.
//
// Two request decoders with the same rules: DecodeRequest with the params types' UnmarshalJSON
// (encoding/json's rules with member names matched exactly, exact.go; the reference, and what
// other tools use) and DecodeCall (call.go), the relay's one-pass decoder on jsontext;
// FuzzDecodeCallMatchesDecodeRequest holds them equal.
package protocol
