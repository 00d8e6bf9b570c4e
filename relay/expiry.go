package relay

import (
	"time"
)

// expireLoop deletes groups and sessions nobody touched for IdleExpiry, so a client cannot
// fill the relay with abandoned state. It checks four times per expiry period.
func (s *Server) expireLoop() {
	defer close(s.expiryDone)
	if s.cfg.IdleExpiry <= 0 {
		<-s.expiryStop
		return
	}
	t := time.NewTicker(max(s.cfg.IdleExpiry/4, 10*time.Millisecond))
	defer t.Stop()
	for {
		select {
		case <-s.expiryStop:
			return
		case now := <-t.C:
			s.expire(now)
		}
	}
}

// expire deletes what has been idle since before now-IdleExpiry.
func (s *Server) expire(now time.Time) {
	cutoff := now.Add(-s.cfg.IdleExpiry).UnixNano()
	var groups, sessions int
	for _, g := range s.groups.all() {
		g.mu.Lock()
		if !g.gone.Load() {
			for id, sess := range g.sessions {
				if sess.lastUsed.Load() < cutoff {
					delete(g.sessions, id)
					s.sessionCount.Add(-1)
					s.metrics.sessions.Dec()
					sessions++
				}
			}
			// A group counts as used while any of its sessions is.
			if g.lastUsed.Load() < cutoff && len(g.sessions) == 0 {
				s.deleteGroup(g)
				groups++
			}
		}
		g.mu.Unlock()
	}
	if groups+sessions == 0 {
		return
	}
	s.metrics.expired.WithLabelValues("group").Add(float64(groups))
	s.metrics.expired.WithLabelValues("session").Add(float64(sessions))
	s.log.Info("expired idle state", "groups", groups, "sessions", sessions, "idle", s.cfg.IdleExpiry)
}
