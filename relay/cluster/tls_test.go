package cluster_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"

	"mpcrelay/relay/cluster"
)

// pki writes a CA and two certificates it signed (server for 127.0.0.1, client) as PEM files.
type pki struct{ ca, serverCert, serverKey, clientCert, clientKey string }

func newPKI(t *testing.T) pki {
	t.Helper()
	dir := t.TempDir()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"}, IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	write := func(name, typ string, der []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	leaf := func(name string, serial int64, usage x509.ExtKeyUsage) (string, string) {
		key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: name},
			IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)}, ExtKeyUsage: []x509.ExtKeyUsage{usage},
			KeyUsage: x509.KeyUsageDigitalSignature, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
		if err != nil {
			t.Fatal(err)
		}
		kb, _ := x509.MarshalECPrivateKey(key)
		return write(name+".pem", "CERTIFICATE", der), write(name+"-key.pem", "EC PRIVATE KEY", kb)
	}
	p := pki{ca: write("ca.pem", "CERTIFICATE", caDER)}
	p.serverCert, p.serverKey = leaf("server", 2, x509.ExtKeyUsageServerAuth)
	p.clientCert, p.clientKey = leaf("client", 3, x509.ExtKeyUsageClientAuth)
	return p
}

// A NATS server that requires TLS and verifies client certificates: a node with the CA and a
// client certificate joins; one without a client certificate is refused at Start.
func TestTLSToNATS(t *testing.T) {
	p := newPKI(t)
	s, err := cluster.StartNATS(cluster.ServerConfig{Addr: "127.0.0.1:0", Configure: func(o *server.Options) {
		cfg, err := server.GenTLSConfig(&server.TLSConfigOpts{CertFile: p.serverCert, KeyFile: p.serverKey, CaFile: p.ca, Verify: true})
		if err != nil {
			t.Fatal(err)
		}
		cfg.MinVersion = tls.VersionTLS12
		o.TLSConfig, o.TLS, o.TLSVerify, o.TLSTimeout = cfg, true, true, 2
	}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown()
	url := "tls://" + s.Addr()
	a, _ := startNode(t, url, func(c *cluster.Config) { c.TLSCAFile, c.TLSCertFile, c.TLSKeyFile = p.ca, p.clientCert, p.clientKey })
	b, bh := startNode(t, url, func(c *cluster.Config) { c.TLSCAFile, c.TLSCertFile, c.TLSKeyFile = p.ca, p.clientCert, p.clientKey })
	echoOwner(bh, b, nil)
	if _, err := a.Forward(t.Context(), b.ID(), 1, 0, []byte("over tls")); err != nil {
		t.Fatalf("forward over TLS: %v", err)
	}
	cfg := fast
	cfg.URL, cfg.TLSCAFile = url, p.ca
	n, err := cluster.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(newRecorder()); err == nil {
		n.Close()
		t.Fatal("Expected: a node without a client certificate refused by a verifying NATS / Actual: joined")
	}
}
