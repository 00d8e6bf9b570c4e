package cluster

// Lanes: the owner runs forwarded requests concurrently, one lane per connection of another
// node. §1.3 orders a connection's requests, not a group's: a group's single writer is its own
// lock in the relay, exactly as when the connections are local, where each one's read pump runs
// its requests alongside every other's. So a lane keeps one connection's requests (and the
// notice that it closed) in arrival order — NATS delivers one node's messages to a subscriber
// in the order they were sent — and runs them one at a time, while lanes of different
// connections run at once. A lane is a goroutine that lives only while its connection has
// something queued: an idle connection costs nothing, and one slow request delays only the
// requests of its own connection, as on a single node.
//
// Every queued item holds n.life shared from the moment it was admitted until it has run, so
// a node's loss or the link's (which take n.life alone) still comes after every call that came
// before it, as when one goroutine ran them all.

type laneKey struct {
	node NodeID
	conn uint64
}

// laneItem is a request, or (r nil) the notice that the connection closed.
type laneItem struct {
	r *Request
}

type lane struct {
	queue []laneItem // waiting behind the item being run
}

// enqueue adds an item to its connection's lane, starting the lane if it was idle. The caller
// holds n.life shared; the lane releases it once the item has run.
func (n *Node) enqueue(k laneKey, it laneItem) {
	if it.r != nil {
		n.m.queued.Inc()
	}
	n.lmu.Lock()
	if l := n.lanes[k]; l != nil {
		l.queue = append(l.queue, it)
		n.lmu.Unlock()
		return
	}
	l := &lane{}
	n.lanes[k] = l
	n.lmu.Unlock()
	go n.runLane(k, l, it)
}

// runLane runs the items of one connection in order until none is left.
func (n *Node) runLane(k laneKey, l *lane, it laneItem) {
	for {
		n.runItem(k, it)
		n.lmu.Lock()
		if len(l.queue) == 0 {
			delete(n.lanes, k)
			n.lmu.Unlock()
			return
		}
		it = l.queue[0]
		l.queue[0] = laneItem{}
		l.queue = l.queue[1:]
		n.lmu.Unlock()
	}
}

func (n *Node) runItem(k laneKey, it laneItem) {
	defer n.life.RUnlock()
	if it.r == nil {
		n.h.ConnClosed(k.node, k.conn)
		return
	}
	n.m.served.Inc()
	n.h.Execute(it.r)
	it.r.Finish()
	n.m.queued.Dec()
}
