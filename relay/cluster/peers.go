package cluster

import (
	"encoding/binary"
	"time"

	"github.com/nats-io/nats.go"
)

// Liveness. Every node publishes a heartbeat every Heartbeat; a node not heard from (heartbeat
// or any other message) for DeadAfter is dead. Each message carries its sender's link epoch, so
// a node that lost and regained NATS in between two heartbeats is still seen as a new
// incarnation, whose predecessor's memberships are void. A node that was declared dead but is
// still talking gets a reset, and starts a new incarnation itself: both sides then agree that
// every membership across them ended.

type verdict int

const (
	seeOK verdict = iota
	seeDrop
	seeTomb
	seeNewEpoch
)

type tomb struct {
	epoch uint64
	at    time.Time
}

// see updates what the node knows of a sender. Caller holds n.mu.
func (n *Node) see(h head, now time.Time) verdict {
	if t, ok := n.tombs[h.from]; ok {
		if h.epoch <= t.epoch {
			return seeTomb
		}
		delete(n.tombs, h.from)
	}
	p := n.peers[h.from]
	switch {
	case p == nil:
		n.peers[h.from] = &peer{epoch: h.epoch, seen: now}
		n.m.peers.Set(float64(len(n.peers)))
		n.log.Info("node joined", "peer", h.from.String())
		return seeOK
	case h.epoch < p.epoch:
		return seeDrop // from before the sender's last relink
	case h.epoch > p.epoch:
		return seeNewEpoch
	}
	p.seen = now
	return seeOK
}

// admit checks a message's sender and, when it returns true, holds n.life shared: the caller
// handles the message and then releases it. A sender seen with a new epoch is first handled as
// lost (its earlier connections leave), alone, before any message of its new incarnation.
func (n *Node) admit(h head) bool {
	if h.from == n.id {
		return false // our own heartbeat
	}
	for {
		n.life.RLock()
		n.mu.Lock()
		v := n.see(h, time.Now())
		n.mu.Unlock()
		switch v {
		case seeOK:
			return true
		case seeDrop:
			n.life.RUnlock()
			return false
		case seeTomb:
			n.life.RUnlock()
			n.sendReset(h)
			return false
		}
		n.life.RUnlock()
		n.life.Lock()
		n.mu.Lock()
		p := n.peers[h.from]
		renewed := p != nil && h.epoch > p.epoch
		if renewed {
			p.epoch, p.seen = h.epoch, time.Now()
		}
		n.mu.Unlock()
		if renewed {
			n.lose(h.from, lostRestarted, "restarted its cluster link")
		}
		n.life.Unlock()
	}
}

// lose gives a node up. Caller holds n.life alone.
func (n *Node) lose(id NodeID, reason, text string) {
	n.m.nodesLost.WithLabelValues(reason).Inc()
	n.log.Warn("node lost: its connections leave this node's groups, and this node's connections leave its groups", "peer", id.String(), "reason", text)
	if reason != lostRestarted {
		n.failPending(ErrOwnerLost, func(p *pendingRequest) bool { return p.owner == id })
	}
	// A restarted owner may still run requests on their way to it: their replies, of its new
	// incarnation, count; replies of the old one are refused (onReply).
	n.h.NodeLost(id, text)
}

func (n *Node) sendReset(h head) {
	msg := appendHead(nil, msgReset, n.id, n.epoch.Load())
	msg = binary.BigEndian.AppendUint64(msg, h.epoch)
	if err := n.publish(n.subj.requests(h.from), "", msg); err != nil {
		n.log.Debug("reset not sent", "peer", h.from.String(), "err", err)
	}
}

// onReset: another node declared this one dead. If it names this incarnation, start a new one.
func (n *Node) onReset(h head, body []byte) {
	if len(body) < 8 || binary.BigEndian.Uint64(body) != n.epoch.Load() {
		return // an older incarnation, already replaced
	}
	n.relink("declared dead by node " + h.from.String() + " (it missed this node's heartbeats)")
}

func (n *Node) heartbeat() {
	msg := appendHead(nil, msgHeartbeat, n.id, n.epoch.Load())
	msg = appendUvarint(msg, uint64(n.cfg.Heartbeat.Milliseconds()))
	msg = appendUvarint(msg, protocol)
	if err := n.publish(n.subj.heartbeats(), "", msg); err != nil {
		n.log.Debug("heartbeat not sent", "err", err)
	}
}

func (n *Node) heartbeatLoop() {
	defer close(n.done)
	n.heartbeat()
	t := time.NewTicker(n.cfg.Heartbeat)
	defer t.Stop()
	last := time.Now()
	for {
		select {
		case <-n.stop:
			return
		case <-t.C:
			now := time.Now()
			n.heartbeat()
			if stalled := now.Sub(last); stalled > n.cfg.DeadAfter/2 {
				// This process did not run its own loop for a while (overload, GC, a paused VM):
				// the silence it would see is its own. Give every peer a fresh window instead of
				// declaring it dead.
				n.log.Warn("heartbeat loop stalled: not judging other nodes this round", "stalled", stalled)
				n.refreshPeers(now)
			} else {
				n.expire(now)
			}
			n.expireGivenUp(now)
			last = now
		}
	}
}

func (n *Node) refreshPeers(now time.Time) {
	n.mu.Lock()
	for _, p := range n.peers {
		p.seen = now
	}
	n.mu.Unlock()
}

func (n *Node) onHeartbeatMsg(m *nats.Msg) {
	h, body, err := readHead(m.Data)
	if err != nil || h.typ != msgHeartbeat || h.from == n.id {
		return
	}
	if len(body) == 0 { // goodbye: the node shuts down
		n.life.Lock()
		defer n.life.Unlock()
		n.mu.Lock()
		p := n.peers[h.from]
		gone := p != nil && p.epoch == h.epoch
		if gone {
			delete(n.peers, h.from)
			n.tombs[h.from] = tomb{epoch: h.epoch, at: time.Now()}
			n.m.peers.Set(float64(len(n.peers)))
		}
		n.mu.Unlock()
		if gone {
			n.lose(h.from, lostLeft, "left the cluster (shut down)")
		}
		return
	}
	if n.admit(h) {
		n.life.RUnlock()
		n.sawProtocol(h.from, body)
	}
}

// sawProtocol notes the cluster protocol of a peer's heartbeat body and logs a peer whose
// version differs from this node's, once per change (wire.go says what each difference costs).
func (n *Node) sawProtocol(from NodeID, body []byte) {
	v := uint64(protoV1)
	if _, rest, err := readUvarint(body); err == nil && len(rest) > 0 {
		if pv, _, err := readUvarint(rest); err == nil {
			v = pv
		}
	}
	n.mu.Lock()
	p := n.peers[from]
	changed := p != nil && p.protocol != v
	if changed {
		p.protocol = v
	}
	n.mu.Unlock()
	if changed && v != protocol {
		n.log.Warn("node of another cluster protocol version: mixed versions work, but a node ignores the messages of later versions (see the README's cluster section); upgrade every node",
			"peer", from.String(), "peer_protocol", v, "protocol", protocol)
	}
}

// expire declares dead the nodes not heard from for DeadAfter.
func (n *Node) expire(now time.Time) {
	n.mu.Lock()
	var dead []NodeID
	for id, p := range n.peers {
		if now.Sub(p.seen) > n.cfg.DeadAfter {
			dead = append(dead, id)
		}
	}
	for id, t := range n.tombs {
		if now.Sub(t.at) > 100*n.cfg.DeadAfter {
			delete(n.tombs, id) // it has long stopped talking, or started anew
		}
	}
	n.mu.Unlock()
	if len(dead) == 0 {
		return
	}
	n.life.Lock()
	defer n.life.Unlock()
	for _, id := range dead {
		n.mu.Lock()
		p := n.peers[id]
		still := p != nil && time.Since(p.seen) > n.cfg.DeadAfter
		if still {
			delete(n.peers, id)
			n.tombs[id] = tomb{epoch: p.epoch, at: now}
			n.m.peers.Set(float64(len(n.peers)))
		}
		n.mu.Unlock()
		if still {
			n.lose(id, lostDead, "no heartbeat for "+n.cfg.DeadAfter.String())
		}
	}
}
