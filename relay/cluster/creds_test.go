package cluster_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"

	"mpcrelay/relay/cluster"
)

// A NATS server in operator mode (decentralised JWT auth, as NGS and most secured deployments
// run): nodes given a user's credentials file join; a node without one is refused at Start.
func TestCredentialsFile(t *testing.T) {
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	okp, err := nkeys.CreateOperator()
	must(err)
	opub, _ := okp.PublicKey()
	oc := jwt.NewOperatorClaims(opub)
	ojwt, err := oc.Encode(okp)
	must(err)
	oc, err = jwt.DecodeOperatorClaims(ojwt)
	must(err)
	akp, _ := nkeys.CreateAccount()
	apub, _ := akp.PublicKey()
	ajwt, err := jwt.NewAccountClaims(apub).Encode(okp)
	must(err)
	ukp, _ := nkeys.CreateUser()
	upub, _ := ukp.PublicKey()
	useed, _ := ukp.Seed()
	ujwt, err := jwt.NewUserClaims(upub).Encode(akp)
	must(err)
	creds, err := jwt.FormatUserConfig(ujwt, useed)
	must(err)
	file := filepath.Join(t.TempDir(), "relay.creds")
	must(os.WriteFile(file, creds, 0o600))

	resolver := &server.MemAccResolver{}
	must(resolver.Store(apub, ajwt))
	s, err := cluster.StartNATS(cluster.ServerConfig{Addr: "127.0.0.1:0", Configure: func(o *server.Options) {
		o.TrustedOperators = []*jwt.OperatorClaims{oc}
		o.AccountResolver = resolver
	}})
	must(err)
	defer s.Shutdown()

	a, _ := startNode(t, s.ClientURL(), func(c *cluster.Config) { c.CredsFile = file })
	b, bh := startNode(t, s.ClientURL(), func(c *cluster.Config) { c.CredsFile = file })
	echoOwner(bh, b, nil)
	if _, err := a.Forward(t.Context(), b.ID(), 1, 0, []byte("with creds")); err != nil {
		t.Fatalf("forward between nodes using a credentials file: %v", err)
	}
	cfg := fast
	cfg.URL = s.ClientURL()
	n, err := cluster.New(cfg)
	must(err)
	if err := n.Start(newRecorder()); err == nil {
		n.Close()
		t.Fatal("Expected: a node without credentials refused / Actual: joined")
	}
}
