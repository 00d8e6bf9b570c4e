// Package natstest starts real NATS servers (nats-server/v2, in-process) on random loopback
// ports for tests: one server, or a NATS cluster of several servers joined by routes.
package natstest

import (
	"fmt"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"

	"mpcrelay/relay/cluster"
)

// Server starts one NATS server on a random port; the test's cleanup stops it.
func Server(t testing.TB) *cluster.NATSServer {
	t.Helper()
	s, err := cluster.StartNATS(cluster.ServerConfig{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatalf("start NATS: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return s
}

// EventsDenied starts one NATS server whose only user may publish anything except the
// subjects that carry event frames between relay nodes: a cluster on it loses every event that
// crosses nodes (responses still arrive). It returns the URL with that user's credentials.
func EventsDenied(t testing.TB) string {
	t.Helper()
	s, err := cluster.StartNATS(cluster.ServerConfig{Addr: "127.0.0.1:0", Configure: func(o *server.Options) {
		o.Users = []*server.User{{Username: "relay", Password: "broken", Permissions: &server.Permissions{
			Publish:   &server.SubjectPermission{Allow: []string{">"}, Deny: []string{"mpcrelay.*.n.*.d.e"}},
			Subscribe: &server.SubjectPermission{Allow: []string{">"}},
		}}}
	}})
	if err != nil {
		t.Fatalf("start NATS: %v", err)
	}
	t.Cleanup(s.Shutdown)
	return "nats://relay:broken@" + s.Addr()
}

// Restart starts a NATS server on the address of one that was shut down (a NATS restart, for
// the relays' reconnect), its configuration changed by configure if given; the test's cleanup
// stops it.
func Restart(t testing.TB, old *cluster.NATSServer, configure ...func(*cluster.ServerConfig)) *cluster.NATSServer {
	t.Helper()
	cfg := cluster.ServerConfig{Addr: old.Addr()}
	for _, f := range configure {
		f(&cfg)
	}
	var err error
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); time.Sleep(50 * time.Millisecond) {
		var s *cluster.NATSServer
		if s, err = cluster.StartNATS(cfg); err == nil {
			t.Cleanup(s.Shutdown)
			return s
		}
	}
	t.Fatalf("restart NATS on %s: %v", old.Addr(), err)
	return nil
}

// Cluster starts n NATS servers joined by routes (each routes to the first; NATS gossip
// completes the mesh) and returns once a message published on any server reaches a subscriber
// on every server. The test's cleanup stops them.
func Cluster(t testing.TB, n int) []*cluster.NATSServer {
	t.Helper()
	servers := make([]*cluster.NATSServer, n)
	for i := range servers {
		cfg := cluster.ServerConfig{Addr: "127.0.0.1:0", ClusterAddr: "127.0.0.1:0", ClusterName: "natstest"}
		if i > 0 {
			cfg.Routes = []string{servers[0].RouteURL()}
		}
		s, err := cluster.StartNATS(cfg)
		if err != nil {
			t.Fatalf("start NATS server %d of %d: %v", i+1, n, err)
		}
		t.Cleanup(s.Shutdown)
		servers[i] = s
	}
	if err := waitMesh(servers, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	return servers
}

// URLs are the client URLs of servers, comma-separated, as relays take them.
func URLs(servers []*cluster.NATSServer) string {
	out := ""
	for i, s := range servers {
		if i > 0 {
			out += ","
		}
		out += s.ClientURL()
	}
	return out
}

// waitMesh polls until a request made on every server is answered by a responder on every
// server: interest has crossed every route.
func waitMesh(servers []*cluster.NATSServer, bound time.Duration) error {
	conns := make([]*nats.Conn, len(servers))
	for i, s := range servers {
		nc, err := nats.Connect(s.ClientURL())
		if err != nil {
			return fmt.Errorf("connect to NATS server %d: %w", i+1, err)
		}
		defer nc.Close()
		subject := fmt.Sprintf("natstest.mesh.%d", i)
		if _, err := nc.Subscribe(subject, func(m *nats.Msg) { _ = m.Respond(nil) }); err != nil {
			return err
		}
		if err := nc.Flush(); err != nil {
			return err
		}
		conns[i] = nc
	}
	deadline := time.Now().Add(bound)
	for {
		missing := ""
		for i, from := range conns {
			for j := range conns {
				if _, err := from.Request(fmt.Sprintf("natstest.mesh.%d", j), nil, 200*time.Millisecond); err != nil {
					missing = fmt.Sprintf("server %d cannot reach server %d: %v", i+1, j+1, err)
					break
				}
			}
			if missing != "" {
				break
			}
		}
		if missing == "" {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("NATS cluster of %d did not form within %s: %s", len(servers), bound, missing)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
