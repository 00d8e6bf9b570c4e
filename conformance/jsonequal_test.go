package conformance

import "testing"

// equalJSON is the exact comparison behind every body and value check.
func TestEqualJSON(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{
		{`12345678901234567890`, `12345678901234567000`, false}, // float64 would call these equal
		{`1e21`, `1000000000000000000000`, true},
		{`-0`, `0`, true},
		{`0`, `null`, false},
		{`""`, `null`, false},
		{`false`, `null`, false},
		{`"\u00fc"`, `"ü"`, true},
		{`"e\u0301"`, `"é"`, false}, // no Unicode normalisation
		{`{"a":1,"b":[1,2]}`, `{"b":[1,2],"a":1.0}`, true},
		{`{"a":1}`, `{"a":1,"c":2}`, false},
		{`[1,2]`, `[2,1]`, false},
		{`1e99999`, `1e99999`, true},
	} {
		if got, why := equalJSON([]byte(c.a), []byte(c.b)); got != c.want {
			t.Errorf("equalJSON(%s, %s) = %v (%s), want %v", c.a, c.b, got, why, c.want)
		}
	}
}
