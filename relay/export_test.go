package relay

import "github.com/google/uuid"

// HoldGroup locks group id of s, as a request that takes long would, until release is called.
func HoldGroup(s *Server, id uuid.UUID) (release func()) {
	g := s.lockGroup(id, true)
	if g == nil {
		panic("HoldGroup: no group " + id.String())
	}
	return g.mu.Unlock
}

// GroupMembers counts the members of group id of s (-1: no such group).
func GroupMembers(s *Server, id uuid.UUID) int {
	g := s.lockGroup(id, false)
	if g == nil {
		return -1
	}
	defer g.mu.RUnlock()
	return len(g.members)
}

// AfterForward makes f run on a forwarded request's read pump when its wait for the owner ends,
// before the home node books what it learned.
func AfterForward(s *Server, f func()) { s.cl.afterForward.Store(&f) }

// SlowDone makes the owner s send each forwarded request's response at once (as it does when a
// frame for the caller goes out first) and then run f before the request's done: an owner slow
// to finish a request whose caller already has its answer.
func SlowDone(s *Server, f func()) { s.cl.slowDone.Store(&f) }

// LossRecords counts the owners s keeps loss counts of (route: a loss while a request to that
// owner was on its way).
func LossRecords(s *Server) int {
	s.cl.mu.Lock()
	defer s.cl.mu.Unlock()
	return len(s.cl.flights)
}
