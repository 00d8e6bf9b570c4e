// Package conformance is the conformance kit of the mpc-websocket protocol
// (../shared/PROTOCOL.md): Ginkgo v2 + Gomega cases that check a relay at any URL.
//
// Cases follow h2spec: one file per protocol section (4_5_session_signup.go), each case a small
// value with a stable id that starts with its section ("4.5/signup-event-exactly-at-threshold"),
// the requirement in one sentence, a level (MUST, SHOULD, COMPAT, INFO) and labels. Shared
// verifiers (verify.go) keep cases short and fail with Expected / Actual plus the wire transcript
// of the case.
//
// Adding a case: put it in the file of its section, with the protocol sentence as a comment
// above it, a stable id "<section>/<what-it-checks>", the requirement in one sentence, its level
// and labels; build it from the fixtures (NewGroup, Ready, Session.Signup) and verifiers
// (Conn.OK, Conn.ExpectError, Conn.WaitEvent, T.ExpectNoEvent); open every connection through
// T.Dial so it is recorded and closed. List it in the rule table (rules.go) under the rules of
// PROTOCOL.md it checks — a test fails on a case that checks no rule and on a MUST rule with no
// case. A MUST rule also needs a breakage dedicated to it (breakage.Breakage.Rule) that one of
// its cases catches in the self-test; `mpcrelay conform --coverage` prints the table.
//
// Running: Run executes the selected cases against one or more targets in worker processes —
// each worker re-executes the current binary (the mpcrelay command, or a test binary whose
// TestMain calls RunWorkerIfRequested) and runs its share of the specs with Ginkgo's RunSpecs;
// the parent merges the results. Ginkgo's own parallel mode needs the ginkgo CLI as its server,
// so this is how "-p N" really runs cases in parallel from a plain binary and from `go test`.
package conformance
