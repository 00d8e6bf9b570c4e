package relay_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"mpcrelay/forwarder"
	"mpcrelay/relay"
	"mpcrelay/relay/protocol"
)

// Throughput of a 3-party session through the relay, and of the same traffic through the
// minimal forwarder (forwarder package), in one run so that the ratio relay/baseline comes from
// the same machine state:
//
//	go test -run '^$' -bench 'Throughput|IdleConn' -benchmem -count 5 ./relay/
//
// One op is one Session.message frame sent by a party. Parties work in rounds, as MPC parties
// do: each sends batch frames, then reads everything the round brings it before the next round.
// This keeps every queue far below the relay's send-queue limit while the sockets stay busy.
//
// Broadcast: every frame reaches the two other parties. Relay: the sender also reads its
// response. Forwarder: the frame goes verbatim to the other two connections of the room.
// Peer-to-peer: party i sends to party i%3+1. The forwarder has no routing, so its baseline
// gives each ordered pair its own room (a sending and a receiving connection per party): the
// same frames in and out of the server, one delivery per message.

const (
	benchBatch = 64   // frames per party per round: 3×64 queued at most per connection
	benchBody  = 1024 // bytes of message body: a typical GG20 round message is a few hundred B to a few KiB
)

// benchConn is a bare client connection that sends one prebuilt frame and reads frames without
// decoding them, so the client side costs the same in every variant.
type benchConn struct {
	ws     *websocket.Conn
	frame  []byte // what it sends
	expect int    // frames it reads per round
}

func benchDial(b *testing.B, url string) *websocket.Conn {
	b.Helper()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ws.Close() })
	return ws
}

// runRounds drives the parties for at least n messages and reports msgs/s, allocs/msg and B/msg.
func runRounds(b *testing.B, senders, readers []*benchConn, n int) {
	b.Helper()
	runRoundsOf(b, senders, readers, n, benchBatch)
}

// runRoundsOf is runRounds with batch frames per party per round.
func runRoundsOf(b *testing.B, senders, readers []*benchConn, n, batch int) {
	b.Helper()
	perRound := len(senders) * batch
	rounds := (n + perRound - 1) / perRound
	var ms0, ms1 runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&ms0)
	b.ResetTimer()
	start, cpu0 := time.Now(), cpuTime()
	errs := make(chan error, len(senders)+len(readers))
	for range rounds {
		var wg sync.WaitGroup
		for _, s := range senders {
			wg.Go(func() {
				for range batch {
					if err := s.ws.WriteMessage(websocket.TextMessage, s.frame); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		for _, r := range readers {
			wg.Go(func() {
				for range r.expect {
					_, rd, err := r.ws.NextReader()
					if err != nil {
						errs <- err
						return
					}
					if _, err := io.Copy(io.Discard, rd); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		select {
		case err := <-errs:
			b.Fatal(err)
		default:
		}
	}
	elapsed, cpu := time.Since(start), cpuTime()-cpu0
	b.StopTimer()
	runtime.ReadMemStats(&ms1)
	msgs := float64(rounds * perRound)
	b.ReportMetric(msgs/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Nanoseconds())/1e3/msgs, "cpu-µs/msg")
	b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/msgs, "allocs/msg")
	b.ReportMetric(float64(ms1.TotalAlloc-ms0.TotalAlloc)/msgs, "B/msg")
}

// relaySession sets up a 3-party keygen session on a fresh relay and returns the parties'
// connections, with the ids of group and session.
func relaySession(b *testing.B) ([]*websocket.Conn, uuid.UUID, uuid.UUID) {
	b.Helper()
	inst := startRelay(b, false)
	g, s, rs := keygenReady(b, inst.URL(), 3, 1)
	out := make([]*websocket.Conn, len(rs))
	for i, r := range rs {
		out[i] = r.ws
		_ = r.ws.SetReadDeadline(time.Time{})
	}
	return out, g, s
}

func messageFrame(b *testing.B, g, s uuid.UUID, sender uint16, receiver *uint16) []byte {
	b.Helper()
	frame, err := protocol.NewRequest(uint64(sender), protocol.MethodSessionMessage, protocol.SessionMessageParams{
		GroupID: g, SessionID: s, Kind: protocol.KindKeygen,
		Message: protocol.Message{Round: 1, Sender: sender, Receiver: receiver, UUID: s, Body: json.RawMessage(`"` + strings.Repeat("a", benchBody) + `"`)},
	})
	if err != nil {
		b.Fatal(err)
	}
	return frame
}

// startForwarder serves a forwarder on a real socket and returns its URL and the forwarder,
// whose Peers tells when every connection has joined its room.
func startForwarder(b *testing.B) (string, *forwarder.Forwarder) {
	b.Helper()
	fw := forwarder.New()
	srv := httptest.NewServer(fw)
	b.Cleanup(func() {
		fw.Close()
		srv.Close()
	})
	return "ws" + strings.TrimPrefix(srv.URL, "http") + "/", fw
}

func waitPeers(b *testing.B, fw *forwarder.Forwarder, room string, n int) {
	b.Helper()
	for deadline := time.Now().Add(testWait); fw.Peers(room) < n; {
		if time.Now().After(deadline) {
			b.Fatalf("forwarder room %q: %d of %d connections", room, fw.Peers(room), n)
		}
		time.Sleep(time.Millisecond)
	}
}

func BenchmarkThroughput(b *testing.B) {
	b.Run("broadcast/relay", func(b *testing.B) {
		ws, g, s := relaySession(b)
		conns := make([]*benchConn, 3)
		for i, w := range ws {
			// Each party reads its own responses and the other two parties' events.
			conns[i] = &benchConn{ws: w, frame: messageFrame(b, g, s, uint16(i+1), nil), expect: 3 * benchBatch}
		}
		runRounds(b, conns, conns, b.N)
	})
	b.Run("broadcast/forwarder", func(b *testing.B) {
		url, fw := startForwarder(b)
		var ws []*websocket.Conn
		for range 3 {
			ws = append(ws, benchDial(b, url+"?room=session"))
		}
		waitPeers(b, fw, "session", 3)
		g, s := uuid.New(), uuid.New()
		conns := make([]*benchConn, 3)
		for i, w := range ws {
			conns[i] = &benchConn{ws: w, frame: messageFrame(b, g, s, uint16(i+1), nil), expect: 2 * benchBatch}
		}
		runRounds(b, conns, conns, b.N)
	})
	b.Run("p2p/relay", func(b *testing.B) {
		ws, g, s := relaySession(b)
		conns := make([]*benchConn, 3)
		for i, w := range ws {
			// Each party reads its own responses and its predecessor's messages.
			conns[i] = &benchConn{ws: w, frame: messageFrame(b, g, s, uint16(i+1), protocol.Receiver(uint16((i+1)%3+1))), expect: 2 * benchBatch}
		}
		runRounds(b, conns, conns, b.N)
	})
	b.Run("p2p/forwarder", func(b *testing.B) {
		url, fw := startForwarder(b)
		g, s := uuid.New(), uuid.New()
		var senders, readers []*benchConn
		for i := range 3 {
			room := fmt.Sprintf("%d-to-%d", i+1, (i+1)%3+1)
			from, to := benchDial(b, url+"?room="+room), benchDial(b, url+"?room="+room)
			waitPeers(b, fw, room, 2)
			senders = append(senders, &benchConn{ws: from, frame: messageFrame(b, g, s, uint16(i+1), protocol.Receiver(uint16((i+1)%3+1)))})
			readers = append(readers, &benchConn{ws: to, expect: benchBatch})
		}
		runRounds(b, senders, readers, b.N)
	})
}

// Memory per idle connection, measured in a child process that serves only the relay (or the
// forwarder), so the clients' memory is not counted: Go heap+stacks after GC, and RSS. The
// 2,000 connections are in pairs: each pair is a 2-party group of the relay (so the figure
// includes membership), a room of the forwarder.

const (
	childEnv  = "MPCRELAY_BENCH_CHILD" // "relay" or "forwarder": TestMain serves that instead of testing
	idleConns = 2000                   // in pairs: each pair is a group of the relay, a room of the forwarder
)

func TestMain(m *testing.M) {
	if kind := os.Getenv(childEnv); kind != "" {
		serveChild(kind)
		return
	}
	code := m.Run()
	closeManyFixtures()
	os.Exit(code)
}

// serveChild prints the server's URL, then answers each line on stdin with its memory figures
// and exits at EOF.
func serveChild(kind string) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var url string
	switch kind {
	case "relay":
		cfg := relay.DefaultConfig()
		cfg.Addr = "127.0.0.1:0"
		inst, err := relay.Start(ctx, cfg)
		if err != nil {
			fmt.Println("error", err)
			return
		}
		url = inst.URL()
	default:
		u, _, err := forwarder.Start(ctx, "127.0.0.1:0")
		if err != nil {
			fmt.Println("error", err)
			return
		}
		url = u
	}
	fmt.Println(url)
	sc := bufio.NewScanner(os.Stdin)
	for sc.Scan() {
		runtime.GC()
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		fmt.Println(ms.HeapInuse+ms.StackInuse, rssBytes(), runtime.NumGoroutine())
	}
}

// cpuTime is the CPU time this process used so far (user and system, every goroutine: relay,
// NATS and clients alike). CPU per message is much steadier than a rate on a machine that other
// work shares: it does not count the time the process waited for a core.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rssBytes() uint64 {
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(data), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

type child struct {
	stdin io.WriteCloser
	out   *bufio.Scanner
	url   string
}

func startChild(b *testing.B, kind string) *child {
	b.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), childEnv+"="+kind)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		stdin.Close()
		_ = cmd.Wait()
	})
	c := &child{stdin: stdin, out: bufio.NewScanner(stdout)}
	if !c.out.Scan() || strings.HasPrefix(c.out.Text(), "error") {
		b.Fatalf("child %s did not start: %q", kind, c.out.Text())
	}
	c.url = c.out.Text()
	return c
}

// measure returns heap+stack bytes, RSS bytes and goroutines of the child.
func (c *child) measure(b *testing.B) (uint64, uint64, int) {
	b.Helper()
	if _, err := fmt.Fprintln(c.stdin, "measure"); err != nil {
		b.Fatal(err)
	}
	if !c.out.Scan() {
		b.Fatal("child ended")
	}
	var heap, rss uint64
	var gs int
	if _, err := fmt.Sscan(c.out.Text(), &heap, &rss, &gs); err != nil {
		b.Fatalf("child said %q: %v", c.out.Text(), err)
	}
	return heap, rss, gs
}

// joinPair puts relay connection i in a group: an even one creates a 2-party group, the odd one
// after it joins that group.
func joinPair(b *testing.B, conns []*websocket.Conn, i int) {
	b.Helper()
	ws := conns[i]
	var frame []byte
	var err error
	if i%2 == 0 {
		frame, err = protocol.NewRequest(1, protocol.MethodGroupCreate, protocol.GroupCreateParams{Label: "idle", Params: protocol.Parameters{Parties: 2, Threshold: 1}})
	} else {
		var g uuid.UUID
		_, data, rerr := conns[i-1].ReadMessage() // the creator's Group.create response
		in, derr := protocol.DecodeIncoming(data)
		if rerr != nil || derr != nil || json.Unmarshal(in.Result, &g) != nil {
			b.Fatalf("Group.create: %s %v %v", data, rerr, derr)
		}
		frame, err = protocol.NewRequest(1, protocol.MethodGroupJoin, protocol.GroupJoinParams{GroupID: g})
		defer func() {
			if _, data, err := ws.ReadMessage(); err != nil || !strings.Contains(string(data), `"result"`) {
				b.Fatalf("Group.join: %s %v", data, err)
			}
		}()
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := ws.WriteMessage(websocket.TextMessage, frame); err != nil {
		b.Fatal(err)
	}
}

func BenchmarkIdleConnMemory(b *testing.B) {
	for _, kind := range []string{"relay", "forwarder"} {
		b.Run(kind, func(b *testing.B) {
			c := startChild(b, kind)
			heap0, rss0, g0 := c.measure(b)
			conns := make([]*websocket.Conn, 0, idleConns)
			for i := range idleConns {
				url := c.url
				if kind == "forwarder" {
					url += fmt.Sprintf("?room=%d", i/2)
				}
				ws, _, err := websocket.DefaultDialer.Dial(url, nil)
				if err != nil {
					b.Fatal(err)
				}
				conns = append(conns, ws)
				if kind == "relay" {
					joinPair(b, conns, i)
				}
			}
			defer func() {
				for _, ws := range conns {
					ws.Close()
				}
			}()
			// Wait until the server runs every connection's goroutines.
			var heap1, rss1 uint64
			for deadline := time.Now().Add(10 * time.Second); ; {
				var g1 int
				heap1, rss1, g1 = c.measure(b)
				if g1-g0 >= idleConns || time.Now().After(deadline) {
					break
				}
				time.Sleep(20 * time.Millisecond)
			}
			for b.Loop() {
				// The figures below are the result; the loop only satisfies the framework.
			}
			b.ReportMetric(float64(int64(heap1)-int64(heap0))/idleConns, "heap+stack-B/conn")
			b.ReportMetric(float64(int64(rss1)-int64(rss0))/idleConns, "rss-B/conn")
		})
	}
}
