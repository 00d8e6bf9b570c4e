package main

import (
	"bytes"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"strings"
	"testing"

	"mpcrelay/simparty"
)

func runCmd(t *testing.T, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(&out)
	root.SetErr(&errb)
	err = root.Execute()
	return out.String(), errb.String(), err
}

// keygen then sign --json with the embedded relay; the JSON line must verify on its own.
func TestKeygenThenSignJSON(t *testing.T) {
	dir := t.TempDir()
	stdout, _, err := runCmd(t, "keygen", "--parties", "3", "--threshold", "1", "--curve", "ed25519", "--out", dir, "--timeout", "1m")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(stdout, "public_key ") {
		t.Fatalf("Expected: public_key line; Actual: %q", stdout)
	}
	shares, err := simparty.LoadShares(dir)
	if err != nil || len(shares) != 3 {
		t.Fatalf("Expected: 3 key-share files; Actual: %d, %v", len(shares), err)
	}
	for _, mode := range []string{"load", "signup"} {
		stdout, _, err = runCmd(t, "sign", "--shares", dir, "--message", "0000ff", "--signers", "2,3", "--mode", mode, "--json")
		if err != nil {
			t.Fatal(mode, err)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		var res struct {
			Curve     string   `json:"curve"`
			PublicKey string   `json:"public_key"`
			Message   string   `json:"message"`
			Signature string   `json:"signature"`
			Signers   []uint16 `json:"signers"`
			Verified  bool     `json:"verified"`
		}
		if err := json.Unmarshal([]byte(lines[len(lines)-1]), &res); err != nil {
			t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
		}
		pub, _ := hex.DecodeString(res.PublicKey)
		sig, _ := hex.DecodeString(res.Signature)
		if res.Curve != "ed25519" || res.Message != "0000ff" || !res.Verified || len(res.Signers) != 2 ||
			!ed25519.Verify(pub, []byte{0, 0, 0xff}, sig) {
			t.Fatalf("Expected: a verifying ed25519 signature of 0000ff by [2 3]; Actual: %+v", res)
		}
	}
}

func TestKeygenSignBadInput(t *testing.T) {
	dir := t.TempDir()
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"keygen", "--curve", "p256", "--out", dir}, "unknown curve"},
		{[]string{"keygen", "--curve", "ed25519", "--threshold", "3", "--parties", "3", "--out", dir}, "threshold"},
		{[]string{"keygen", "--curve", "ed25519", "--out", dir, "--url", "ws://127.0.0.1:1/mpc"}, "connection refused"},
		{[]string{"sign", "--shares", dir, "--message", "00"}, "no key-share files"},
	}
	for _, c := range cases {
		_, _, err := runCmd(t, c.args...)
		if err == nil || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: Expected: one-line error containing %q; Actual: %v", c.args, c.want, err)
		}
	}
}
