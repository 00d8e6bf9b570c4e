// Package explore runs seeded random multi-connection sessions against a relay and compares every
// frame the relay sends with the protocol model (package model). A run is a sequence of steps —
// a request (or a burst of requests, a malformed frame, a notification) on one connection, or a
// connection closing — generated from a seed alone, so the same seed always gives the same steps
// whatever the relay answers. Steps name the groups and sessions they act on by the step that
// created them, not by uuid, so any subsequence of a run is again a run: a failing run is shrunk
// by delta debugging to a minimal subsequence that still fails, and that subsequence is replayed
// by `mpcrelay conform --explore --seed S --steps N --keep i,j,...`.
//
// Waits are bounded: a step waits for the frames the model expects (up to the timeout, renewed
// by every frame that arrives), a behaviour seen for the first time may need one quiet window to
// tell "one frame" from "two frames", and a final quiet window catches late extra frames. Frames
// are compared per connection, so the interleaving of connections never changes a verdict.
package explore
