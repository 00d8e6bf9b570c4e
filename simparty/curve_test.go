package simparty

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"strings"
	"testing"

	"github.com/btcsuite/btcd/btcec/v2"
	"github.com/decred/dcrd/dcrec/edwards/v2"
)

// The well-known address of private key 1 (public key G).
func TestEthereumAddressOfG(t *testing.T) {
	g, _ := hex.DecodeString("0279be667ef9dcbbac55a06295ce870b07029bfcdb2dce28d959f2815b16f81798")
	addr, err := EthereumAddress(g)
	if err != nil {
		t.Fatal(err)
	}
	if want := "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf"; addr != want {
		t.Fatalf("Expected: %s; Actual: %s", want, addr)
	}
	if _, err := EthereumAddress([]byte{2, 1}); err == nil {
		t.Fatal("Expected: error for a malformed key; Actual: none")
	}
}

func TestPublicKeyEncodings(t *testing.T) {
	// secp256k1: SEC1 compressed, as btcec writes it.
	priv, _ := btcec.NewPrivateKey()
	pub := priv.PubKey()
	if got := encodePublicKey(CurveSecp256k1, pub.X(), pub.Y()); !bytes.Equal(got, pub.SerializeCompressed()) {
		t.Fatalf("Expected: %x; Actual: %x", pub.SerializeCompressed(), got)
	}
	// ed25519: RFC 8032, as crypto/ed25519 writes it.
	for i := 0; i < 16; i++ {
		edPub, _, _ := ed25519.GenerateKey(nil)
		p, err := edwards.ParsePubKey(edPub)
		if err != nil {
			t.Fatal(err)
		}
		if got := encodePublicKey(CurveEd25519, p.X, p.Y); !bytes.Equal(got, edPub) {
			t.Fatalf("Expected: %x; Actual: %x", []byte(edPub), got)
		}
	}
}

func TestParseCurve(t *testing.T) {
	for in, want := range map[string]Curve{"secp256k1": CurveSecp256k1, "ECDSA": CurveSecp256k1, "ed25519": CurveEd25519, " eddsa ": CurveEd25519} {
		if got, err := ParseCurve(in); err != nil || got != want {
			t.Errorf("ParseCurve(%q): Expected: %s; Actual: %s, %v", in, want, got, err)
		}
	}
	if _, err := ParseCurve("p256"); err == nil || !strings.Contains(err.Error(), "unknown curve") {
		t.Errorf("Expected: unknown curve error; Actual: %v", err)
	}
}
