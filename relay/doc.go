// Package relay is the project's reference relay of the mpc-websocket protocol
// (PROTOCOL.md §1–§6), wire-compatible with the original server.
//
// A frame travels one way: socket → the connection's read pump (conn.go, the only reader; it
// runs the connection's requests one after another) → protocol.DecodeCall (one pass; body
// and value stay raw bytes of the frame) → the method (group.go, session.go, notify.go) → the
// state of one group (state.go) → response and events queued on each receiver's bounded send
// queue → that receiver's writer (write.go, the only writer, running while frames are queued)
// → socket (socket.go: a batch of frames in one write). A client that does not take a write
// within WriteWait is dropped as slow (§6.2); the queue's bounds, far above honest bursts, bound
// its memory until then (conn.enqueue); queuing never blocks.
//
// # State and locks
//
// There is no lock over the whole relay. Every request names one group (Group.create makes
// one), and a group's state — members, sessions, party numbers, finish sets — is guarded by
// that group's own lock, group.mu. A method finds the group in the group table (table.go: 64
// shards, each locked only for a map lookup, insert or delete), locks the group (exclusively
// when it changes state, shared when it only routes), applies the §4 rules, queues the response
// to the caller and then the events its request triggers, and unlocks. So a caller's response
// comes before the events of its request, the frames of one group are queued in the order its
// state changed, and one connection's frames leave in the order they were queued (§1.3);
// requests on different groups never wait for each other. A lock per group, rather than one
// goroutine per group or sharded state, because requests are short and never block: an
// uncontended lock costs tens of nanoseconds, where a goroutine per group would add two
// goroutine switches to every request and a stack to every idle group, and a relay-wide lock
// made hundreds of read pumps queue behind each other with 1,000 groups.
//
// A group's state refers to connections only as members (state.go: a client number and an
// ordered, non-blocking frame sink), and a method needs only the decoded request, its caller
// and the group. That is the seam for a cluster: the node that owns a group runs the methods
// against its state under its lock, and members standing for connections on other nodes
// forward their frames there, in order. A connection's own list of groups (for
// MaxGroupsPerConn and for leaving them when it closes, §6.1) is changed only where its
// requests run (its read pump; in cluster mode, a remote connection's lane); a group that left the table meanwhile (emptied or expired) is marked gone and pruned
// from the lists lazily. Shutdown first halts every connection's request loop, waiting for the
// request in flight, so every frame that was produced is queued before the queues drain.
//
// # Cluster mode
//
// With Config.Cluster.URL set (serve --nats URL --cluster-name NAME) the relay is one node of a
// relay that spans several processes over NATS (cluster_link.go, cluster_pipeline.go; the
// transport and its failure rules are in package relay/cluster). Its subjects, under
// mpcrelay.<cluster-name>: n.<node>.q (requests for the node's groups, notices), n.<node>.d.e
// (event frames for its connections), n.<node>.d.<seq> (the owner's reply to a request), hb
// (heartbeats); three subscriptions per node, none per group. The node that creates a group owns
// it: its node id is the first four bytes of the group's uuid, the group's state lives only
// there, under the group's lock as above, so the §4 rules need no distributed locking. A request
// that names a group of another node is forwarded by the caller's read pump, raw, to the owner,
// which runs it as a request of a member standing for the remote connection (a *conn whose
// remote field is set), on that connection's lane (relay/cluster/lanes.go): one connection's
// requests one at a time in the order they came, different connections' at once — the same
// concurrency as local read pumps, with the group's lock as its single writer. The read pump
// waits for the owner's done, which comes after the response and the events the request sent to
// the caller's node, before it reads the next request (§1.3 across owners) — except for a burst
// of Session.message requests to one owner, which go out without waiting, since the owner
// receives, runs and answers one connection's requests in order (cluster_pipeline.go).
//
// Every fan-out goes through call.deliver while the group's lock is held: local receivers get
// the frame queued, and each other node gets it in ONE message listing its receivers there, in
// order, which that node hands out (clusterLink.deliver, Deliver). So every node receives one
// group's frames in the order of its state changes, each receiver exactly once, and a broadcast
// to k parties on one node costs one NATS message, not k. A remote connection's response waits
// to travel inside its request's done; any frame published for that connection before the done
// (an event of its own request, or another connection's) first sends the response (§1.3). A node
// that dies (no heartbeat for --cluster-dead-after) or leaves has its connections removed from
// every group (§6.1); the connections of other nodes that were members of its groups are closed
// with 4001, since its groups are not replicated (so are those whose request there was
// answered but whose done never came: it may have made them members, until a done from that
// owner, late or of a later request, says what they hold). A node that loses NATS closes its
// connections that were in other nodes' groups (4002), drops other nodes' connections from its
// groups, answers requests on other nodes' groups with -32603 at once, reports 503 on /healthz,
// and reconnects; its own groups keep working for its own connections. A frame NATS cannot carry
// (over its max_payload) never silently misses a member: an event's receivers on that node are
// closed (4003), a response is answered -32603 in its place (clusterLink.Missed, route). The
// home node's bookkeeping of its connections' groups elsewhere — what each owner's done said, a
// done that did not come or came late, --max-groups-per-conn — is cluster_held.go; requests
// given up on are bounded per connection and owner (relay/cluster/givenup.go). Single-node mode (no
// Cluster.URL) costs a nil check in enqueue, dispatch and deliver.
//
// Config.Compat switches every COMPAT point of PROTOCOL.md to the original's behaviour; the
// default is the strict reading (each choice is commented where it is made, with its section).
// Start runs a relay on a socket for tools and tests; Server.Handler serves it in any
// http.Server. Each Server has its own Prometheus registry.
package relay
