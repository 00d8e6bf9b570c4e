package relay

import "mpcrelay/relay/cluster"

// What this node books of its connections' groups on other nodes (the home side of cluster
// mode, cluster_link.go): which owners are told when a connection closes (§6.1), which
// connections a lost owner or link closes, and how many groups a connection holds elsewhere
// (--max-groups-per-conn). Owners' dones say it; a done that did not come, or came late, is
// booked here too.

// held is what this node knows of one of its connections' groups on another node, the owner.
// An entry means the owner is told when the connection closes (§6.1); a connection is closed
// when its owner or the link is lost if n > 0 or maybe.
type held struct {
	n   int    // groups there, as the owner's last done said
	seq uint64 // the request whose done, or whose end without one, this reflects (Result.Seq)
	// maybe: request seq was answered but its done did not come (the owner slow, or lost): it
	// may have made the connection a member there whatever n says, until a done settles it.
	// (A request that timed out unanswered books n alone: its caller was told it failed.)
	maybe bool
	// joined: that request was a Group.join answered with success, so it counts as one more
	// group there (--max-groups-per-conn) until a done settles it (one answered with an error
	// joined nothing, and books like a request answered by no one).
	joined bool
}

// count is the number of groups there the per-connection limit counts.
func (h held) count() int {
	if h.joined {
		return h.n + 1
	}
	return h.n
}

// losses is what route compares before and after a forwarded request.
type losses struct{ link, node uint64 }

// flight counts the requests of this node's connections on their way to one owner (route), and
// that owner's losses since the first of them took off. It lives only while some are on their
// way: a node keeps nothing of the owners it no longer sends to (every node that ever left).
type flight struct {
	n      int
	losses uint64
}

// takeOff counts a request to owner on its way and returns the losses so far, to compare when
// it lands. Caller holds l.mu.
func (l *clusterLink) takeOff(owner cluster.NodeID) losses {
	f := l.flights[owner]
	if f == nil {
		f = &flight{}
		l.flights[owner] = f
	}
	f.n++
	return losses{l.linkLosses, f.losses}
}

// land ends a request's flight (takeOff) and returns the losses so far. Caller holds l.mu.
func (l *clusterLink) land(owner cluster.NodeID) losses {
	f := l.flights[owner]
	now := losses{l.linkLosses, f.losses}
	if f.n--; f.n == 0 {
		delete(l.flights, owner)
	}
	return now
}

// book records what owner's done said c holds there. Caller holds l.mu.
func (l *clusterLink) book(c *conn, owner cluster.NodeID, res cluster.Result) {
	m := l.memberOf[c]
	if m == nil && res.Holds > 0 {
		m = map[cluster.NodeID]held{}
		l.memberOf[c] = m
	}
	if m != nil {
		m[owner] = held{n: res.Holds, seq: res.Seq}
		if res.Holds == 0 {
			delete(m, owner)
		}
	}
	l.recount(c)
}

// recount sets what c holds on other nodes from what was booked. Caller holds l.mu.
func (l *clusterLink) recount(c *conn) {
	n := 0
	for _, h := range l.memberOf[c] {
		n += h.count()
	}
	c.elsewhere.Store(int32(min(n, 1<<30)))
}

// stillHeld tells, after a loss while c's request was on its way, whether what its done said
// still holds: the owner only restarted, and the done came from its new incarnation (a done of
// an incarnation given up is refused). Caller holds l.mu, which the drop takes to look at
// memberships: one booked now is either seen by a later drop or of the current incarnation.
func (l *clusterLink) stillHeld(now, before losses, owner cluster.NodeID, res cluster.Result) bool {
	return now.link == before.link && res.Epoch != 0 && l.node.Current(owner, res.Epoch)
}

// doneMissing books that request seq of c ended without the owner's done: owner may have run
// it, or may still, so it is told when c closes (§6.1: told nothing, it would keep c in its
// group for good), and if the request was answered (maybe), c is closed when owner is lost
// (§6.1: it may hold a group there, out of reach then) until a done settles it. Caller holds
// l.mu.
func (l *clusterLink) doneMissing(c *conn, owner cluster.NodeID, seq uint64, answered, joined bool) {
	defer l.recount(c)
	m := l.memberOf[c]
	if m == nil {
		m = map[cluster.NodeID]held{}
		l.memberOf[c] = m
	}
	h, ok := m[owner]
	if ok && h.seq == seq { // its late done came first (LateDone) and settled it
		if h.n == 0 {
			delete(m, owner)
		}
		return
	}
	h.seq, h.maybe, h.joined = seq, h.maybe || answered, h.joined || joined
	m[owner] = h
}

// LateDone: the done of a request of c that its wait gave up on came after all
// (cluster.Handler); what it says replaces what was booked, as an in-time done would.
func (l *clusterLink) LateDone(owner cluster.NodeID, conn uint64, res cluster.Result) {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.locals[conn]
	if c == nil {
		if res.Holds > 0 {
			// Closed before owner's done said c is a member there; the close may not have told
			// owner (a restart of owner dropped what this node booked of it, and it ran the
			// request in its new life): tell it now, or it keeps c in its group (§6.1).
			if err := l.node.ConnClosed(owner, conn); err != nil {
				l.s.log.Debug("closed notice not sent", "node", owner.String(), "err", err)
			}
		}
		return
	}
	m := l.memberOf[c]
	h, ok := m[owner]
	switch {
	case ok && h.seq > res.Seq:
		// A later request of c to owner ended without its done (doneMissing; dones come in
		// order, so none of a later request came): this done is the latest word on the groups
		// c holds there; what the later request may have done stays flagged until its own.
		h.n = res.Holds
		m[owner] = h
		l.recount(c)
		return
	case ok && h.seq == res.Seq && res.Holds == 0:
		delete(m, owner) // its end was booked (doneMissing), and c holds nothing there
		l.recount(c)
		return
	}
	if m == nil {
		m = map[cluster.NodeID]held{}
		l.memberOf[c] = m
	}
	// Kept even with n == 0 when route has not booked the request's end yet: doneMissing then
	// sees that its done settled it.
	m[owner] = held{n: res.Holds, seq: res.Seq}
	l.recount(c)
}

// groupsElsewhere counts the groups c holds on other nodes than owner (the owner applies
// MaxGroupsPerConn with it).
func (l *clusterLink) groupsElsewhere(c *conn, owner cluster.NodeID) int {
	l.mu.Lock()
	elsewhere := 0
	for n, h := range l.memberOf[c] {
		if n != owner {
			elsewhere += h.count()
		}
	}
	l.mu.Unlock()
	return elsewhere + c.heldGroups()
}
