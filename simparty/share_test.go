package simparty

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

func edShares(t *testing.T) []*Share {
	t.Helper()
	shares, err := KeygenLocal(context.Background(), KeygenConfig{Curve: CurveEd25519, Threshold: 1, Parties: 3, Timeout: 30 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	return shares
}

func TestShareFilesRoundTrip(t *testing.T) {
	shares := edShares(t)
	dir := t.TempDir()
	if err := WriteShares(dir, shares); err != nil {
		t.Fatal(err)
	}
	loaded, err := LoadShares(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(loaded) != 3 {
		t.Fatalf("Expected: 3 shares; Actual: %d", len(loaded))
	}
	raw, err := os.ReadFile(filepath.Join(dir, "party-2.json"))
	if err != nil {
		t.Fatal(err)
	}
	var f map[string]any
	if err := json.Unmarshal(raw, &f); err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"curve", "party_number", "threshold", "parties", "public_key", "save_data"} {
		if _, ok := f[key]; !ok {
			t.Errorf("Expected: key-share file field %q; Actual: fields %v", key, f)
		}
	}
	// A share loaded from disk signs like the one from memory.
	sig, err := SignLocal(context.Background(), SignConfig{Shares: loaded[1:], Message: []byte("from disk"), Timeout: 30 * time.Second})
	if err != nil || !sig.Verified {
		t.Fatalf("Expected: verified signature from loaded shares; Actual: %v", err)
	}
}

func TestLoadSharesRejectsBadFiles(t *testing.T) {
	shares := edShares(t)
	other := edShares(t)
	cases := []struct {
		name  string
		setup func(dir string)
		want  string
	}{
		{"empty directory", func(string) {}, "no key-share files"},
		{"not JSON", func(dir string) { os.WriteFile(filepath.Join(dir, "party-1.json"), []byte("{"), 0o600) }, "party-1.json"},
		{"file named for another party", func(dir string) {
			WriteShares(dir, shares[:1])
			os.Rename(filepath.Join(dir, "party-1.json"), filepath.Join(dir, "party-2.json"))
		}, "holds the share of party 1"},
		{"public key does not match the save data", func(dir string) {
			s := *shares[0]
			s.PublicKey = other[0].PublicKey
			WriteShares(dir, []*Share{&s})
		}, "does not match"},
		{"shares of two keys", func(dir string) { WriteShares(dir, []*Share{shares[0], other[1]}) }, "shares disagree"},
		{"party number out of range", func(dir string) {
			s := *shares[0]
			s.PartyNumber = 9
			WriteShares(dir, []*Share{&s})
		}, "out of range"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			dir := t.TempDir()
			c.setup(dir)
			_, err := LoadShares(dir)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Expected: error containing %q; Actual: %v", c.want, err)
			}
		})
	}
}

func TestConfigsRejectBadInput(t *testing.T) {
	shares := edShares(t)
	ctx := context.Background()
	keygens := []struct {
		cfg  KeygenConfig
		want string
	}{
		{KeygenConfig{Curve: "p256", Threshold: 1, Parties: 3}, "unknown curve"},
		{KeygenConfig{Curve: CurveEd25519, Threshold: 3, Parties: 3}, "0 < t < n"},
		{KeygenConfig{Curve: CurveEd25519, Threshold: 0, Parties: 3}, "0 < t < n"},
		{KeygenConfig{Curve: CurveEd25519, Threshold: 1, Parties: 1}, "parties"},
		{KeygenConfig{URL: "ws://x", Curve: CurveSecp256k1, Threshold: 1, Parties: 40}, "pre-param"},
		{KeygenConfig{Curve: CurveEd25519, Threshold: 1, Parties: 3}, "no relay URL"},
	}
	for _, c := range keygens {
		if _, err := Keygen(ctx, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Keygen(%+v): Expected: error containing %q; Actual: %v", c.cfg, c.want, err)
		}
	}
	signs := []struct {
		cfg  SignConfig
		want string
	}{
		{SignConfig{URL: "ws://x", Shares: shares, Message: []byte("m")}, "exactly 2 parties"},
		{SignConfig{URL: "ws://x", Shares: shares[:2]}, "empty"},
		{SignConfig{URL: "ws://x", Shares: []*Share{shares[0], shares[0]}, Message: []byte("m")}, "two shares of party 1"},
		{SignConfig{URL: "ws://x", Shares: shares[:2], Message: []byte("m"), Mode: "magic"}, "join mode"},
		{SignConfig{Shares: shares[:2], Message: []byte("m")}, "no relay URL"},
	}
	for _, c := range signs {
		if _, err := Sign(ctx, c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Sign: Expected: error containing %q; Actual: %v", c.want, err)
		}
	}
	// A relay that is down fails every party at once, with one line.
	start := time.Now()
	_, err := Keygen(ctx, KeygenConfig{URL: "ws://127.0.0.1:1/mpc", Curve: CurveEd25519, Threshold: 1, Parties: 3})
	if err == nil || !strings.Contains(err.Error(), "connection refused") || strings.Count(err.Error(), "connection refused") != 1 || time.Since(start) > 5*time.Second {
		t.Errorf("Expected: one prompt dial error; Actual: %v after %s", err, time.Since(start))
	}
}

func TestSecp256k1MessageMustBeADigest(t *testing.T) {
	shares, _ := ecdsaShares(t)
	_, err := Sign(context.Background(), SignConfig{URL: "ws://x", Shares: shares[:2], Message: []byte("short")})
	if err == nil || !strings.Contains(err.Error(), "32-byte digest") {
		t.Fatalf("Expected: 32-byte digest error; Actual: %v", err)
	}
}
