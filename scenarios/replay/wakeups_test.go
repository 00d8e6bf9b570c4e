package replay

import "testing"

func closed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// A poller's wake-ups are held until its harvest is handled, then all given; without a poller
// (a reader goroutine of its own) they are given at once.
func TestWakeupsAreGivenAtTheEndOfAHarvest(t *testing.T) {
	var u wakeups
	done := make(chan struct{})
	var c countdown
	c.init(2)
	c.tick(&u)
	c.tick(&u)
	u.close(done)
	r := &run{wake: make(chan struct{}, 1)} // not in its message phase: a step sends nothing
	u.step(r)
	u.step(r)
	if closed(c.done) || closed(done) || len(u.steps) != 1 {
		t.Fatalf("Expected: nothing woken before the harvest ends, one step held\nActual:   countdown %v, done %v, %d steps", closed(c.done), closed(done), len(u.steps))
	}
	u.give()
	if !closed(c.done) || !closed(done) || len(u.steps) != 0 || len(r.wake) != 0 {
		t.Fatalf("Expected: every wake-up given once the harvest ends, the step taken on the poller\nActual:   countdown %v, done %v, %d steps held, %d driver signals", closed(c.done), closed(done), len(u.steps), len(r.wake))
	}
	u.give() // nothing held twice: a second close would panic
	var none *wakeups
	now := make(chan struct{})
	none.close(now)
	none.step(r)
	none.step(r) // already signalled: not blocked
	if !closed(now) || len(r.wake) != 1 {
		t.Fatal("Expected: without a poller, woken at once and the step left to the driver\nActual:   not")
	}
}
