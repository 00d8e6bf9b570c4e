package run

import (
	"context"
	"fmt"
	"net"
	"strings"
	"syscall"
	"testing"
	"time"
)

// unacceptedAddr is a TCP address whose listener never accepts and whose backlog is full: a
// connect to it waits until its deadline.
func unacceptedAddr(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 1); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	for range 4 { // fill the backlog
		if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
			t.Cleanup(func() { _ = c.Close() })
		}
	}
	return addr
}

// A replay whose bound passes while it is still connecting is interrupted (exit 2), not failed
// (exit 1, "no connection could be made"). A connect waits on the context's deadline, and fails
// with "i/o timeout" most times before the context's own timer has marked it done: the run
// must not take its bound's end for the target's failure (a sweep step did so under load).
func TestReplayCutWhileConnectingIsInterrupted(t *testing.T) {
	url := "ws://" + unacceptedAddr(t) + "/mpc"
	for range 5 { // the old check (ctx.Err() alone) misread about 4 runs in 5
		ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
		res, err := Replay(ctx, ReplayOptions{URL: url, Trace: eddsaTrace(t), TraceName: "eddsa", Groups: 1})
		cancel()
		if err == nil || !strings.Contains(err.Error(), "interrupted") || res == nil || !strings.HasPrefix(res.Verdict, "interrupted") {
			t.Fatalf("Expected: the replay interrupted\nActual:   %v (results %v)", err, res != nil)
		}
	}
}
