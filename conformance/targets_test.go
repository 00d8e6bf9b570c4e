package conformance

import (
	"context"
	"testing"

	"mpcrelay/faultproxy"
	"mpcrelay/relay"
)

// startReference starts the embedded reference relay (compat: in the original's mode) for the
// rest of the test.
func startReference(t testing.TB, compat bool) *relay.Instance {
	t.Helper()
	inst, err := StartEmbedded(context.Background(), compat)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = inst.Shutdown(context.Background()) })
	return inst
}

// startProxy starts a fault-injecting proxy in front of url, with rules, for the rest of the
// test.
func startProxy(t testing.TB, url string, rules ...faultproxy.Rule) *faultproxy.Proxy {
	t.Helper()
	p, err := faultproxy.Start(url, faultproxy.Options{}, rules...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}
