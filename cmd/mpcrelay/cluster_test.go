package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"

	"mpcrelay/client"
	"mpcrelay/relay"
	"mpcrelay/relay/cluster"
	"mpcrelay/relay/cluster/natstest"
	"mpcrelay/relay/protocol"
)

// runAsMPCRelay makes the test binary run `mpcrelay` with these arguments (separated by \x1f)
// instead of the tests: a relay node in its own process, which a test can kill -9.
const runAsMPCRelay = "MPCRELAY_TEST_RUN_ARGS"

func runMainIfRequested() {
	args := os.Getenv(runAsMPCRelay)
	if args == "" {
		return
	}
	root := newRoot()
	root.SetArgs(strings.Split(args, "\x1f"))
	if err := root.Execute(); err != nil {
		fmt.Fprintln(os.Stderr, "mpcrelay:", err)
		os.Exit(exitCode(err))
	}
	os.Exit(0)
}

// startServeProcess runs `mpcrelay serve args...` as a child process and returns its URL.
func startServeProcess(t *testing.T, args ...string) (*exec.Cmd, string) {
	t.Helper()
	cmd := exec.Command(os.Args[0])
	cmd.Env = append(os.Environ(), runAsMPCRelay+"="+strings.Join(append([]string{"serve"}, args...), "\x1f"))
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	listening := regexp.MustCompile(`relay listening on (ws://\S+)`)
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				found <- m[1]
			}
		}
	}()
	select {
	case url := <-found:
		return cmd, url
	case <-time.After(20 * time.Second):
		t.Fatal("Expected: the serve process to listen / Actual: no URL within 20s")
		return nil, ""
	}
}

// meshParty is one party of a test session: it broadcasts one message per round and waits
// for the others' messages of that round, counting every delivery.
type meshParty struct {
	c     *client.Client
	sub   *client.Subscription
	n     uint16
	seen  map[[2]uint16]int // (sender, round) → deliveries
	ended time.Time         // when run returned
}

// next waits for the next event, at most wait.
func (p *meshParty) next(ctx context.Context, wait time.Duration) (client.Event, error) {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	return p.sub.Next(ctx)
}

// awaitEvent consumes events until one named name, counting messages met on the way.
func (p *meshParty) awaitEvent(ctx context.Context, name string, wait time.Duration) error {
	for {
		ev, err := p.next(ctx, wait)
		if err != nil {
			return fmt.Errorf("party %d: waiting for %s: %w", p.n, name, err)
		}
		if ev.Name == name {
			return nil
		}
		p.count(ev)
	}
}

func (p *meshParty) count(ev client.Event) {
	if ev.Name != protocol.EventSessionMessage {
		return
	}
	var m protocol.Message
	if json.Unmarshal(ev.Payload, &m) == nil {
		p.seen[[2]uint16{m.Sender, m.Round}]++
	}
}

// meshSession runs a 3-party keygen session whose party i is on urls[i]: signup, rounds of
// broadcasts, finish. It returns the parties (for delivery counts) and the first error of each.
func meshSession(ctx context.Context, urls []string, rounds int, pace, roundWait time.Duration, progress *atomic.Int32) ([]*meshParty, []error) {
	ps := make([]*meshParty, len(urls))
	errs := make([]error, len(urls))
	for i, u := range urls {
		c, err := client.Dial(ctx, u, client.WithCallTimeout(roundWait))
		if err != nil {
			errs[i] = err
			return ps, errs
		}
		ps[i] = &meshParty{c: c, sub: c.Subscribe(client.Filter{}), seen: map[[2]uint16]int{}}
	}
	setup := func() (uuid.UUID, uuid.UUID, error) {
		g, err := ps[0].c.GroupCreate(ctx, "kill test", protocol.Parameters{Parties: 3, Threshold: 1})
		if err != nil {
			return g, uuid.Nil, err
		}
		for _, p := range ps[1:] {
			if _, err := p.c.GroupJoin(ctx, g); err != nil {
				return g, uuid.Nil, err
			}
		}
		s, err := ps[0].c.SessionCreate(ctx, g, protocol.KindKeygen, nil)
		if err != nil {
			return g, uuid.Nil, err
		}
		for _, p := range ps[1:] {
			if err := p.awaitEvent(ctx, protocol.EventSessionCreate, roundWait); err != nil {
				return g, s.UUID, err
			}
		}
		for _, p := range ps {
			if p.n, err = p.c.SessionSignup(ctx, g, s.UUID, protocol.KindKeygen); err != nil {
				return g, s.UUID, err
			}
		}
		for _, p := range ps {
			if err := p.awaitEvent(ctx, protocol.EventSessionSignup, roundWait); err != nil {
				return g, s.UUID, err
			}
		}
		return g, s.UUID, nil
	}
	g, s, err := setup()
	if err != nil {
		errs[0] = fmt.Errorf("set-up: %w", err)
		return ps, errs
	}
	var wg sync.WaitGroup
	for i, p := range ps {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.run(ctx, g, s, rounds, pace, roundWait, progress)
			p.ended = time.Now()
		}()
	}
	wg.Wait()
	return ps, errs
}

func (p *meshParty) run(ctx context.Context, g, s uuid.UUID, rounds int, pace, roundWait time.Duration, progress *atomic.Int32) error {
	for r := 1; r <= rounds; r++ {
		m := protocol.Message{Round: uint16(r), Sender: p.n, UUID: s, Body: json.RawMessage(fmt.Sprint(r))}
		if err := p.c.SessionMessage(ctx, g, s, protocol.KindKeygen, m); err != nil {
			return fmt.Errorf("party %d round %d: %w", p.n, r, err)
		}
		for from := uint16(1); from <= 3; from++ {
			for from != p.n && p.seen[[2]uint16{from, uint16(r)}] == 0 {
				ev, err := p.next(ctx, roundWait)
				if err != nil {
					return fmt.Errorf("party %d round %d: no message from party %d within %s: %w", p.n, r, from, roundWait, err)
				}
				p.count(ev)
			}
		}
		if p.n == 1 && progress != nil {
			progress.Store(int32(r))
		}
		time.Sleep(pace)
	}
	if err := p.c.SessionFinish(ctx, g, s, p.n); err != nil {
		return fmt.Errorf("party %d finish: %w", p.n, err)
	}
	return p.awaitEvent(ctx, protocol.EventSessionClosed, roundWait)
}

// TestClusterNodeKilledMidRun kills one relay node of three (kill -9 of its process) while
// four sessions run: the sessions whose group and parties live on the surviving nodes
// complete; in the group the dead node owned, the surviving parties' connections are closed
// with 4001 within the bound (dead-after + heartbeat); where only a party was on the dead node,
// the others stop with their own round timeout; and no message is ever delivered twice.
func TestClusterNodeKilledMidRun(t *testing.T) {
	nats := natstest.Server(t).ClientURL()
	const heartbeat, deadAfter = 100 * time.Millisecond, 500 * time.Millisecond
	var in []string
	for range 2 {
		cfg := relay.DefaultConfig()
		cfg.Addr = "127.0.0.1:0"
		cfg.Cluster = cluster.Config{URL: nats, Name: "kill", Heartbeat: heartbeat, DeadAfter: deadAfter}
		inst, err := relay.Start(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = inst.Shutdown(context.Background()) })
		in = append(in, inst.URL())
	}
	proc, n3 := startServeProcess(t, "--addr", "127.0.0.1:0", "--nats", nats, "--cluster-name", "kill",
		"--cluster-heartbeat", heartbeat.String(), "--cluster-dead-after", deadAfter.String(), "--log-level", "warn")
	n1, n2 := in[0], in[1]
	sessions := []struct {
		name string
		urls []string // party 1 (creator, so the owner) first
		fate string
	}{
		{"survivors on 1", []string{n1, n2, n1}, "complete"},
		{"survivors on 2", []string{n2, n1, n2}, "complete"},
		{"owned by 3", []string{n3, n1, n2}, "closed"},
		{"party on 3", []string{n1, n3, n2}, "stalled"},
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const rounds, pace, roundWait = 40, 25 * time.Millisecond, 3 * time.Second
	var progress atomic.Int32 // rounds done in "owned by 3"
	parties := make([][]*meshParty, len(sessions))
	errs := make([][]error, len(sessions))
	var wg sync.WaitGroup
	for i, s := range sessions {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var p *atomic.Int32
			if s.fate == "closed" {
				p = &progress
			}
			parties[i], errs[i] = meshSession(ctx, s.urls, rounds, pace, roundWait, p)
		}()
	}
	for progress.Load() < 5 {
		if ctx.Err() != nil {
			t.Fatal("sessions did not reach round 5")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := proc.Process.Kill(); err != nil { // SIGKILL: no goodbye, no notices
		t.Fatal(err)
	}
	killed := time.Now()
	wg.Wait()
	for i, s := range sessions {
		for k, p := range parties[i] {
			if p == nil {
				continue
			}
			for key, n := range p.seen {
				if n > 1 {
					t.Errorf("%s: party %d got the round-%d message of party %d %d times (exactly once, §4.7)", s.name, k+1, key[1], key[0], n)
				}
			}
		}
		switch s.fate {
		case "complete":
			for k, err := range errs[i] {
				if err != nil {
					t.Errorf("%s: party %d: Expected: the session completes on the surviving nodes / Actual: %v", s.name, k+1, err)
				}
			}
		case "closed":
			// Parties 2 and 3 live on nodes 1 and 2; the group lived on node 3.
			for k := 1; k < 3; k++ {
				p := parties[i][k]
				select {
				case <-p.c.Done():
				case <-time.After(5 * time.Second):
					t.Fatalf("%s: party %d: Expected: its connection closed / Actual: still open (%v)", s.name, k+1, errs[i][k])
				}
				if code := p.c.CloseCode(); code != 4001 {
					t.Errorf("%s: party %d: Expected: close code 4001 / Actual: %d (%v)", s.name, k+1, code, errs[i][k])
				}
				// Its last call may have failed earlier, with -32603 naming the unreachable node.
				if d := p.ended.Sub(killed); d > deadAfter+heartbeat+time.Second {
					t.Errorf("%s: party %d: Expected: stopped within dead-after + heartbeat (+1s slack) of the kill / Actual: after %s (%v)", s.name, k+1, d, errs[i][k])
				}
			}
		case "stalled":
			for _, k := range []int{0, 2} {
				if err := errs[i][k]; err == nil || !strings.Contains(err.Error(), "no message from party 2") {
					t.Errorf("%s: party %d: Expected: a bounded wait for the dead party 2 / Actual: %v", s.name, k+1, err)
				}
			}
		}
	}
	if d := time.Since(killed); d > 2*roundWait+5*time.Second {
		t.Errorf("Expected: every session ended within its bounds / Actual: %s after the kill", d)
	}
}

// TestClusterStalledOwnerAnswersWithinWriteWait stops (SIGSTOP) the node that owns a group
// while a party on another node has a burst of Session.messages on their way to it: each is
// answered -32603 within --write-wait, in request order, and the connection stays usable.
func TestClusterStalledOwnerAnswersWithinWriteWait(t *testing.T) {
	nats := natstest.Server(t).ClientURL()
	const writeWait = time.Second
	cfg := relay.DefaultConfig()
	cfg.Addr, cfg.WriteWait = "127.0.0.1:0", writeWait
	cfg.Cluster = cluster.Config{URL: nats, Name: "stall", Heartbeat: 100 * time.Millisecond, DeadAfter: 20 * time.Second}
	home, err := relay.Start(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = home.Shutdown(context.Background()) })
	proc, ownerURL := startServeProcess(t, "--addr", "127.0.0.1:0", "--nats", nats, "--cluster-name", "stall",
		"--cluster-heartbeat", "100ms", "--cluster-dead-after", "20s", "--log-level", "warn")
	t.Cleanup(func() { _ = proc.Process.Signal(syscall.SIGCONT) })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	a, err := client.Dial(ctx, ownerURL)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := client.Dial(ctx, home.URL(), client.WithCallTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	g, err := a.GroupCreate(ctx, "stall", protocol.Parameters{Parties: 2, Threshold: 1})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.GroupJoin(ctx, g); err != nil {
		t.Fatal(err)
	}
	s, err := b.SessionCreate(ctx, g, protocol.KindSign, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.SessionSignup(ctx, g, s.UUID, protocol.KindSign); err != nil {
		t.Fatal(err)
	}

	if err := proc.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	// SIGSTOP takes effect thread by thread; the owner could still answer the first request if
	// the burst left before every thread had stopped.
	awaitStopped(t, proc.Process.Pid)
	start := time.Now()
	// The burst is pipelined on one connection: written back to back, in this order, before any
	// answer; the answers are read off the wire in the order they arrive.
	const burst = 5
	ids := make([]uint64, burst)
	for k := range burst {
		ids[k] = b.NextID()
		frame := fmt.Sprintf(`{"jsonrpc":"2.0","id":%d,"method":"Session.message","params":[%q,%q,"sign",{"round":%d,"sender":1,"receiver":1,"uuid":%q,"body":1}]}`,
			ids[k], g, s.UUID, k, s.UUID)
		if err := b.Send(ctx, []byte(frame)); err != nil {
			t.Fatal(err)
		}
	}
	for k := range burst {
		var f client.Frame
		select {
		case f = <-b.Unmatched():
		case <-ctx.Done():
			t.Fatalf("Expected: an answer to message %d / Actual: none within the test's bound", k)
		}
		var resp struct {
			ID    uint64          `json:"id"`
			Error *protocol.Error `json:"error"`
		}
		if err := json.Unmarshal(f.Data, &resp); err != nil {
			t.Fatalf("answer %d: %v: %s", k, err, f.Data)
		}
		if resp.ID != ids[k] {
			t.Errorf("Expected: answers in request order (id %d) / Actual: id %d answered %d-th", ids[k], resp.ID, k)
		}
		if resp.Error == nil || resp.Error.Code != protocol.CodeInternal || !strings.Contains(resp.Error.Message, "did not answer within 1s") {
			t.Errorf("message %d: Expected: -32603 naming the write wait / Actual: %s", k, f.Data)
		}
	}
	elapsed := time.Since(start)
	if elapsed > writeWait+time.Second {
		t.Errorf("Expected: every answer within --write-wait (%s) / Actual: %s", writeWait, elapsed)
	}
	if _, err := b.GroupCreate(ctx, "still usable", protocol.Parameters{Parties: 2, Threshold: 1}); err != nil {
		t.Errorf("Expected: the connection still usable / Actual: %v", err)
	}
}

// awaitStopped waits until every thread of process pid is stopped (state T in /proc).
func awaitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			t.Fatal(err)
		}
		stopped := true
		for _, task := range tasks {
			stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				continue // the thread has exited
			}
			// The state follows the command name, which is in parentheses: "pid (comm) S ...".
			if i := strings.LastIndexByte(string(stat), ')'); i < 0 || i+2 >= len(stat) || stat[i+2] != 'T' {
				stopped = false
				break
			}
		}
		if stopped {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("Expected: process %d stopped / Actual: still running after 10s", pid)
		}
		time.Sleep(time.Millisecond)
	}
}
