// Package simparty runs simulated MPC parties: real tss-lib (github.com/bnb-chain/tss-lib/v2)
// keygen and signing, ECDSA on secp256k1 and EdDSA on ed25519, with every party in this process
// on its own relay connection (PROTOCOL.md §7) or, for baselines, on an in-memory router.
//
// Simulated parties and pooled pre-params are for testing relays, never for keys that hold value.
//
// Layout: curve.go (curves, key encodings), share.go (key-share files), roster.go (party number ↔
// tss-lib PartyID), body.go (what a Session.message body carries), run.go (the routing loop of
// tss-lib's local_party_test, one party at a time, over a Link), memory.go (in-memory Link),
// relay_*.go (the session flows over mpcrelay/client), keygen.go and sign.go (the entry points).
package simparty
