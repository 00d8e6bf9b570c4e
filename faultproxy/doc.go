// Package faultproxy is a fault-injecting WebSocket proxy for the mpc-websocket protocol
// (PROTOCOL.md). It sits in front of any relay and lets small Go functions (rules) drop, rewrite,
// duplicate, delay, reorder or inject frames, per direction and per connection, with predicates
// on the decoded JSON-RPC frame. The conformance self-test builds its broken relays with it, and
// scenarios use it for fault injection.
//
// Every client connection to the proxy gets its own connection to the target relay. Two pumps
// per connection (client→relay and relay→client) read frames; each frame is decoded, matched and
// acted on by the rules, then written out. Rules of one proxy run one at a time under a
// proxy-wide lock, so a rule may keep its state in plain variables captured by its closure and
// read the Tracker without further locking.
package faultproxy
