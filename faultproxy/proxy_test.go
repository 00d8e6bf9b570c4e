package faultproxy_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"mpcrelay/client"
	"mpcrelay/faultproxy"
	"mpcrelay/relay"
	"mpcrelay/relay/protocol"
)

func startRelay(t *testing.T) string {
	t.Helper()
	cfg := relay.DefaultConfig()
	cfg.Addr = "127.0.0.1:0"
	inst, err := relay.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Shutdown(context.Background()) })
	return inst.URL()
}

func startProxy(t *testing.T, target string, rules ...faultproxy.Rule) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(target, faultproxy.Options{}, rules...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

func dial(t *testing.T, url string) *client.Client {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := client.Dial(ctx, url, client.WithCallTimeout(3*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

// twoMembers makes a 2-of-3 group with a and b as members and returns it.
func twoMembers(t *testing.T, a, b *client.Client) uuid.UUID {
	t.Helper()
	ctx := context.Background()
	g, err := a.GroupCreate(ctx, "fp", protocol.Parameters{Parties: 3, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.GroupJoin(ctx, g); err != nil {
		t.Fatal(err)
	}
	return g
}

func TestPassThroughAndResponsePairing(t *testing.T) {
	var seen []string
	p := startProxy(t, startRelay(t), faultproxy.Rule{Name: "observe", Dir: faultproxy.ToClient,
		Match: func(f *faultproxy.Frame) bool { return f.RPC.Kind == faultproxy.KindResponse },
		Apply: func(f *faultproxy.Frame) { seen = append(seen, f.RPC.Method) }})
	a := dial(t, p.URL())
	if _, err := a.GroupCreate(context.Background(), "x", protocol.Parameters{Parties: 2, Threshold: 1}); err != nil {
		t.Fatal(err)
	}
	_, err := a.GroupCreate(context.Background(), "x", protocol.Parameters{Parties: 1, Threshold: 1})
	var rpc *client.RPCError
	if !errors.As(err, &rpc) || rpc.Code != protocol.CodeInternal {
		t.Fatalf("error -32603 through the proxy, got %v", err)
	}
	if len(seen) != 2 || seen[0] != protocol.MethodGroupCreate || seen[1] != protocol.MethodGroupCreate {
		t.Fatalf("responses paired with Group.create twice, got %v", seen)
	}
	if n := len(p.Conns()); n != 1 {
		t.Fatalf("one connection, got %d", n)
	}
}

func TestDropAndDuplicateEvents(t *testing.T) {
	target := startRelay(t)
	for _, tc := range []struct {
		rule faultproxy.Rule
		want int
	}{
		{faultproxy.Drop("drop", faultproxy.ToClient, faultproxy.Event(protocol.EventSessionCreate)), 0},
		{faultproxy.Duplicate("dup", faultproxy.ToClient, faultproxy.Event(protocol.EventSessionCreate)), 2},
	} {
		t.Run(tc.rule.Name, func(t *testing.T) {
			p := startProxy(t, target, tc.rule)
			a, b := dial(t, p.URL()), dial(t, p.URL())
			g := twoMembers(t, a, b)
			sub := b.Subscribe(client.Filter{Names: []string{protocol.EventSessionCreate}})
			defer sub.Close()
			if _, err := a.SessionCreate(context.Background(), g, protocol.KindKeygen, nil); err != nil {
				t.Fatal(err)
			}
			got := countFor(sub, 300*time.Millisecond)
			if got != tc.want {
				t.Fatalf("%d sessionCreate events, got %d", tc.want, got)
			}
		})
	}
}

func countFor(sub *client.Subscription, d time.Duration) int {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	n := 0
	for {
		if _, err := sub.Next(ctx); err != nil {
			return n
		}
		n++
	}
}

func TestInjectIntoAnotherConnection(t *testing.T) {
	var p *faultproxy.Proxy
	p = startProxy(t, startRelay(t), faultproxy.Rule{Name: "copy", Dir: faultproxy.ToClient, Match: faultproxy.ResponseTo(protocol.MethodNotifyProposal),
		Apply: func(f *faultproxy.Frame) {
			ev, _ := protocol.EncodeEvent(protocol.EventNotifySigned, "injected")
			f.Inject(p.Conns()[0], faultproxy.ToClient, ev) // to the first connection, whoever called
		}})
	a, b := dial(t, p.URL()), dial(t, p.URL())
	g := twoMembers(t, a, b)
	sub := a.Subscribe(client.Filter{Names: []string{protocol.EventNotifySigned}})
	defer sub.Close()
	if err := b.NotifyProposal(context.Background(), g, uuid.New(), "p", "m"); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ev, err := sub.Next(ctx)
	if err != nil || string(ev.Payload) != `"injected"` {
		t.Fatalf(`injected notifySigned "injected" on A, got %v %s`, err, ev.Payload)
	}
}

func TestHoldReordersAfterNextFrame(t *testing.T) {
	p := startProxy(t, startRelay(t), faultproxy.Reorder("hold", faultproxy.ToClient, faultproxy.ResponseTo(protocol.MethodSessionSignup), time.Second))
	var mu sync.Mutex
	var received []string // frames b received, in order
	a := dial(t, p.URL())
	ctx := context.Background()
	b, err := client.Dial(ctx, p.URL(), client.WithFrameHook(func(f client.Frame) {
		if f.Dir == client.Received {
			mu.Lock()
			received = append(received, string(f.Data))
			mu.Unlock()
		}
	}))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	g, err := a.GroupCreate(ctx, "x", protocol.Parameters{Parties: 2, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.GroupJoin(ctx, g); err != nil {
		t.Fatal(err)
	}
	s, err := a.SessionCreate(ctx, g, protocol.KindSign, nil)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	if _, err := a.SessionSignup(ctx, g, s.UUID, s.Kind); err != nil { // no frame follows: released after 1s
		t.Fatal(err)
	}
	if d := time.Since(start); d < 900*time.Millisecond {
		t.Fatalf("a held response released after the hold time, got it after %s", d)
	}
	if _, err := b.SessionJoin(ctx, g, s.UUID, s.Kind); err != nil {
		t.Fatal(err)
	}
	// b's signup completes the session: its response is held until the sessionSignup event passes
	start = time.Now()
	if _, err := b.SessionSignup(ctx, g, s.UUID, s.Kind); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d >= time.Second { // the hold time: not released by the next frame
		t.Fatalf("the held response released right after the next frame, took %s", d)
	}
	mu.Lock()
	defer mu.Unlock()
	n := len(received)
	if n < 2 || !strings.Contains(received[n-2], protocol.EventSessionSignup) || strings.Contains(received[n-1], protocol.EventSessionSignup) {
		t.Fatalf("the sessionSignup event, then the signup response; got %q", received[max(0, n-2):])
	}
}

func TestCloseAndKeepClientOpen(t *testing.T) {
	target := startRelay(t)
	p := startProxy(t, target, faultproxy.Rule{Name: "big", Dir: faultproxy.ToRelay,
		Match: func(f *faultproxy.Frame) bool { return len(f.Data) > 1000 }, Apply: func(f *faultproxy.Frame) { f.Close(1009, "too big") }})
	a := dial(t, p.URL())
	_ = a.Send(context.Background(), make([]byte, 2000))
	select {
	case <-a.Done():
		if a.CloseCode() != 1009 {
			t.Fatalf("close code 1009, got %d", a.CloseCode())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the proxy closes the connection")
	}

	keep := startProxy(t, target, faultproxy.Rule{Name: "keep", Dir: faultproxy.ToClient, Match: faultproxy.ErrorResponse(0),
		Apply: func(f *faultproxy.Frame) { f.Conn.KeepClientOpen() }})
	x, y, z := dial(t, keep.URL()), dial(t, keep.URL()), dial(t, keep.URL())
	g, err := x.GroupCreate(context.Background(), "full", protocol.Parameters{Parties: 2, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := y.GroupJoin(context.Background(), g); err != nil {
		t.Fatal(err)
	}
	if _, err := z.GroupJoin(context.Background(), g); err == nil {
		t.Fatal("joining a full group fails")
	}
	select {
	case <-z.Done():
		t.Fatal("the client side stays open after the relay closed it")
	case <-time.After(300 * time.Millisecond):
	}
}

func TestSetRulesAndConnClose(t *testing.T) {
	p := startProxy(t, startRelay(t))
	a := dial(t, p.URL())
	p.SetRules(faultproxy.Rewrite("code", faultproxy.ToClient, faultproxy.ErrorResponse(protocol.CodeInternal), func(b []byte) []byte {
		return []byte(strings.Replace(string(b), "-32603", "-32000", 1))
	}))
	_, err := a.GroupCreate(context.Background(), "x", protocol.Parameters{Parties: 1, Threshold: 1})
	var rpc *client.RPCError
	if !errors.As(err, &rpc) || rpc.Code != -32000 {
		t.Fatalf("the rewritten code -32000, got %v", err)
	}
	p.SetRules()
	_, err = a.GroupCreate(context.Background(), "x", protocol.Parameters{Parties: 1, Threshold: 1})
	if !errors.As(err, &rpc) || rpc.Code != protocol.CodeInternal {
		t.Fatalf("-32603 once the rules are gone, got %v", err)
	}
	p.Conns()[0].Close(4000, "link down")
	select {
	case <-a.Done():
		if a.CloseCode() != 4000 {
			t.Fatalf("close code 4000, got %d", a.CloseCode())
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Conn.Close ends the client's connection")
	}
}

func TestDelayOnOneConnection(t *testing.T) {
	// The delay stands clear of what a loaded machine adds to a round trip under -race (the
	// undelayed call was bounded at 200 ms beside a 300 ms delay).
	const delay = time.Second
	p := startProxy(t, startRelay(t), faultproxy.Delay("slow link", faultproxy.ToClient, faultproxy.OnConn(1), delay))
	slow, fast := dial(t, p.URL()), dial(t, p.URL())
	call := func(c *client.Client) time.Duration {
		start := time.Now()
		if _, err := c.GroupCreate(context.Background(), "d", protocol.Parameters{Parties: 2, Threshold: 1}); err != nil {
			t.Fatal(err)
		}
		return time.Since(start)
	}
	if d := call(slow); d < delay {
		t.Fatalf("connection 1 delayed by %s, answered in %s", delay, d)
	}
	if d := call(fast); d >= delay {
		t.Fatalf("connection 2 not delayed, answered in %s", d)
	}
}

// Await holds a frame until its barrier is released by another connection's frame, or until
// its bound when nothing releases it.
func TestAwaitHoldsUntilReleasedOrBound(t *testing.T) {
	release := make(chan struct{})
	var once sync.Once
	const bound = time.Second
	p := startProxy(t, startRelay(t),
		faultproxy.Rule{Name: "await", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupCreate), faultproxy.OnConn(1)),
			Apply: func(f *faultproxy.Frame) { f.Await(release, 30*time.Second) }},
		faultproxy.Rule{Name: "release", Dir: faultproxy.ToRelay, Match: faultproxy.All(faultproxy.Request(protocol.MethodGroupCreate), faultproxy.OnConn(2)),
			Apply: func(*faultproxy.Frame) { once.Do(func() { close(release) }) }},
		faultproxy.Rule{Name: "bounded", Dir: faultproxy.ToClient, Match: faultproxy.All(faultproxy.ResponseTo(protocol.MethodGroupCreate), faultproxy.OnConn(3)),
			Apply: func(f *faultproxy.Frame) { f.Await(make(chan struct{}), bound) }})
	a, b, c := dial(t, p.URL()), dial(t, p.URL()), dial(t, p.URL())
	create := func(cl *client.Client) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		_, err := cl.GroupCreate(ctx, "await", protocol.Parameters{Parties: 2, Threshold: 1})
		return err
	}
	answered := make(chan error, 1)
	go func() { answered <- create(a) }()
	select {
	case err := <-answered:
		t.Fatalf("connection 1 answered before the barrier was released (%v)", err)
	case <-time.After(300 * time.Millisecond):
	}
	if err := create(b); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-answered:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(15 * time.Second): // far below the 30 s bound
		t.Fatal("connection 1 not answered once the barrier was released")
	}
	start := time.Now()
	if err := create(c); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < bound {
		t.Fatalf("connection 3 answered in %s, before its barrier's bound %s", d, bound)
	}
}
