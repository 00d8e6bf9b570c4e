package cluster

import "time"

// Crash stops a node the way a killed process does: no goodbye, heartbeats just stop.
func Crash(n *Node) {
	n.closeOnce.Do(func() {
		close(n.stop)
		<-n.done
		n.nc.Close()
	})
}

// DeclareAllDead makes n give up every peer now, as if their heartbeats had stopped.
func DeclareAllDead(n *Node) {
	n.mu.Lock()
	for _, p := range n.peers {
		p.seen = time.Time{}
	}
	n.mu.Unlock()
	n.expire(time.Now())
}

// Messages of a node, built as Node builds them, for tests where a plain NATS client plays a
// node (its earlier and later incarnations).

// HeartbeatMessage is a heartbeat of node from in its incarnation epoch, on HeartbeatSubject.
func HeartbeatMessage(from NodeID, epoch uint64) []byte {
	return appendUvarint(appendHead(nil, msgHeartbeat, from, epoch), 50)
}

// DoneMessage is the done of a request run by node from in its incarnation epoch, saying the
// connection holds holds groups there; it goes to the request's reply subject.
func DoneMessage(from NodeID, epoch uint64, holds int) []byte {
	msg := append(appendHead(nil, msgDone, from, epoch), 0)
	return appendUvarint(msg, uint64(holds))
}

// RequestSubject is where requests for node's groups go, in cluster name.
func RequestSubject(name string, node NodeID) string {
	return subjects{prefix: Config{Name: name}.prefix()}.requests(node)
}

// HeartbeatSubject is where the nodes of cluster name send their heartbeats.
func HeartbeatSubject(name string) string {
	return subjects{prefix: Config{Name: name}.prefix()}.heartbeats()
}

// ResponseMessage is the response of a request run by node from in its incarnation epoch, sent
// ahead of its done; it goes to the request's reply subject.
func ResponseMessage(from NodeID, epoch uint64, frame []byte) []byte {
	return append(appendHead(nil, msgResponse, from, epoch), frame...)
}

// KeptResponses counts the response frames n keeps with its pending requests.
func KeptResponses(n *Node) int {
	n.pmu.Lock()
	pending := make([]*pendingRequest, 0, len(n.pending))
	for _, p := range n.pending {
		pending = append(pending, p)
	}
	n.pmu.Unlock()
	k := 0
	for _, p := range pending { // p.mu is taken before pmu elsewhere
		p.mu.Lock()
		if p.response != nil || p.result.Response != nil {
			k++
		}
		p.mu.Unlock()
	}
	return k
}
