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
