// Package cluster is the NATS transport between the nodes of a relay that spans several
// processes (`mpcrelay serve --nats URL --cluster-name NAME`). It moves requests, frames and
// liveness between nodes; the relay (package relay) decides what they mean.
//
// # Ownership
//
// The node where a group is created owns it for its whole life: it alone holds the group's
// members, sessions and party numbers and runs every §4 rule on them (one writer, so no
// distributed locking). The owner's NodeID, a random 32-bit number drawn when the process
// starts, is written into the first four bytes of the group's uuid (NewGroupID; the other 90
// random bits keep the uuid unguessable). Any node finds a group's owner from the uuid alone
// (OwnerOf): no lookup, no shared table, no subject per group.
//
// # Subjects (prefix mpcrelay.<cluster-name>, so clusters sharing a NATS never mix)
//
//	<prefix>.n.<node>.q      requests for the node's groups, and notices (connection closed, reset)
//	<prefix>.n.<node>.d.e    event frames for the node's connections
//	<prefix>.n.<node>.d.<n>  the owner's response and done for request n of the node
//	<prefix>.hb              heartbeats (and goodbyes) of every node
//
// A node subscribes to three subjects, whatever the number of groups: its requests, its
// deliveries (one wildcard subscription, so events and replies from one owner are handled in
// the order the owner sent them) and the heartbeats.
//
// # A request on another node's group
//
// A connection's home node decodes the request, reads the group uuid and, when another node
// owns it, publishes the raw frame to the owner (Forward) and waits for the owner's done before
// it reads the connection's next request (§1.3: a connection's requests are processed in order,
// even when they go to different owners). The owner runs the request against its state exactly
// as for a local connection (Handler.Execute). Frames go out while the group's state is held:
// the response is held (Request.Respond) to travel inside the done, unless a frame for the
// caller goes out first — Request.Flush then publishes it before that frame; each event frame is
// published once per receiving node with the list of that node's receiving connections
// (Node.Deliver); last comes the done (Request.Finish). The home node hands the response and the
// events to its connections in that order (Handler.Deliver), then the read pump goes on (Begin
// and Wait split Forward, so that a burst of requests to one owner can be on its way at once: the
// owner receives, runs and answers them in the order they were begun). One NATS connection per
// node and one subscription per kind keep every owner's frames in order at every node; a frame
// is published once and never retried, so each receiver gets it exactly once or, if the link
// breaks, the membership ends (below).
//
// # Concurrency at the owner
//
// The owner runs forwarded requests on lanes (lanes.go), one per connection of another node: a
// connection's requests, and then the notice that it closed, run one at a time in arrival order;
// different connections' run at once, each on its own goroutine that lives only while the
// connection has something queued. That is the concurrency of a single node, where every
// connection's read pump runs its own requests: §1.3 orders a connection's requests, and a
// group's single writer is the group's own lock in the relay, whichever goroutine takes it. One
// slow request (waiting for its group's lock, say) delays only its own connection; the owner
// uses every core instead of one. The subscription's goroutine only admits a message (sender,
// epoch) and queues it. Every queued message holds the node's life lock shared until it has run,
// so the loss of a node or of the link (which take it alone) still comes after everything that
// arrived before it. Deliveries stay on one goroutine per node, in arrival order: handing a frame
// to local send queues never blocks, and order is what they need.
//
// # Failure
//
//   - A node dies: every node publishes a heartbeat every Heartbeat (1s); a node not heard from
//     for DeadAfter (3s) is dead. The others apply §6.1 to its connections (they leave every
//     group; an emptied group is deleted), close their own connections that were members of its
//     groups (close code 4001 with the group named: the groups are gone, state is not
//     replicated), and fail requests waiting on it. Bound: DeadAfter + Heartbeat (plus the
//     requests already queued at that node, which run first and never block).
//   - A node shuts down: it says goodbye and the others do the same at once.
//   - NATS is unreachable (or the node is cut off): a request that needs another node fails at
//     once with ErrLinkDown (nothing is buffered, so nothing runs later behind the client's
//     back); a forwarded request with no answer fails after RequestTimeout (--write-wait). The
//     node drops every cross-node membership at once (LinkLost: its groups keep their local
//     members, its connections leave remote groups with close code 4002), starts a new link
//     epoch, and keeps reconnecting; once back, new groups span nodes again. The other nodes see
//     the new epoch (or miss the heartbeats) and drop their side.
//   - A node declared dead that is still talking is sent a reset and starts a new epoch itself,
//     so both sides always agree that memberships across them ended.
//   - A node that cannot keep up with what NATS brings it: each subscription holds a bounded
//     backlog (pending limits, drops.go); what comes past it is dropped, and since a dropped
//     message may have been an event, a reply or a notice for anyone, the node starts a new
//     epoch before it handles anything after the gap, as when the link is lost (one relay drops
//     a client that cannot keep up, §6.2). Lost heartbeats are only counted.
//   - Every message is checked against its sender's epoch, replies (responses, dones, late
//     dones) included: the first message of a new epoch, whatever its kind, has the old
//     incarnation's memberships dropped before it counts, and a reply of an incarnation given up
//     counts for nothing (its request fails, or is forgotten if given up on). Requests on their
//     way to an owner that restarted stay pending: its new incarnation may run them.
//   - An owner slow to finish a request: Wait gives up after RequestTimeout (ErrTimeout, with
//     or without the response), but the request stays known until its done comes, which is
//     then handed to Handler.LateDone (the relay books what it says the connection holds
//     there, §6.1), or until its owner or the link is lost, which voids it, or its connection
//     closes (ConnClosed), or a later request's done comes (its own was lost: dones come in
//     order). Such requests are bounded per connection and owner (givenup.go), and stop
//     counting against the bound after a while, so that dones NATS lost cannot refuse a
//     connection for good.
//
// What the design does not do: replicate a group (its owner's death ends it), or carry a frame
// larger than the NATS server's max_payload (Start refuses such a configuration; the embedded
// server allows 32 MiB; a reconnect to a server of the NATS cluster with a smaller one makes
// larger messages fail with ErrTooLarge, while the link stays up; an event frame that does
// not fit is replaced by a notice to its receivers' node, which closes them: Handler.Missed).
package cluster
