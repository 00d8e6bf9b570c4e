// Package relay is the project's reference relay of the mpc-websocket protocol
// (PROTOCOL.md §1–§6), wire-compatible with the original server.
//
// A frame travels one way: socket → the connection's read pump (conn.go, the HTTP handler's
// goroutine, the only reader) → protocol.DecodeRequest → the method (group.go, session.go,
// notify.go) → state change under Server.mu (state.go) → response and events queued on each
// receiver's bounded send queue, while mu is held (§1.3) → that receiver's write pump (the only
// writer) → socket. A queue that fills up drops its client (§6.2); nothing blocks under mu.
//
// Config.Compat switches every COMPAT point of PROTOCOL.md to the original's behaviour; the
// default is the strict reading (each choice is commented where it is made, with its section).
// Start runs a relay on a socket for tools and tests; Server.Handler serves it in any
// http.Server. Each Server has its own Prometheus registry.
package relay
