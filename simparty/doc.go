// Package simparty runs simulated MPC parties: real tss-lib (github.com/bnb-chain/tss-lib/v2)
// keygen and signing, ECDSA on secp256k1 and EdDSA on ed25519, with every party in this process
// on its own relay connection (PROTOCOL.md §7) or, for baselines, on an in-memory router.
//
// Simulated parties and pooled pre-params are for testing relays, never for keys that hold value.
//
// Entry points: Keygen and Sign go through a relay; KeygenLocal and SignLocal run the same parties
// over an in-memory router (the benchmark's baseline). When parties fail, the error is Failures,
// one *PartyError per failed party, naming the round and the parties still awaited on a stall.
// KeygenConfig.Progress / SignConfig.Progress receive one event per phase and per Session.message
// sent (round, sender, receiver or broadcast, size, body), for progress bars and traces.
//
// Layout: curve.go (curves, key encodings), share.go (key-share files), roster.go (party number ↔
// tss-lib PartyID), body.go (Link, and what a Session.message body carries), run.go (the routing
// loop of tss-lib's local_party_test, one party at a time, over a Link), tssparty.go (LocalParty
// construction per curve), exchange.go (signup-mode round 0), memory.go (in-memory Link),
// relay_party.go (the session steps over mpcrelay/client), keygen.go and sign.go (the entry points).
package simparty
