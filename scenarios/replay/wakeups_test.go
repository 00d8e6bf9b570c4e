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
	done, wake := make(chan struct{}), make(chan struct{}, 1)
	var c countdown
	c.init(2)
	c.tick(&u)
	c.tick(&u)
	u.close(done)
	u.send(wake)
	u.send(wake)
	if closed(c.done) || closed(done) || len(wake) != 0 {
		t.Fatal("Expected: nothing woken before the harvest ends\nActual:   woken")
	}
	u.give()
	if !closed(c.done) || !closed(done) || len(wake) != 1 {
		t.Fatalf("Expected: every wake-up given once the harvest ends\nActual:   countdown %v, done %v, %d signals", closed(c.done), closed(done), len(wake))
	}
	u.give() // nothing held twice: a second close would panic
	var none *wakeups
	now := make(chan struct{})
	none.close(now)
	none.send(wake) // already signalled: not blocked
	if !closed(now) {
		t.Fatal("Expected: without a poller, woken at once\nActual:   not")
	}
}
