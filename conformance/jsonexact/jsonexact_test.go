package jsonexact

import "testing"

// Difference names the first place two values differ, with its path; Equal agrees with it.
func TestDifference(t *testing.T) {
	for _, c := range []struct{ a, b, want string }{
		{`{"a":[0,{"b":1}]}`, `{"a":[0,{"b":1.0}]}`, ""},
		{`{"a":[0,{"b":1}]}`, `{"a":[0,{"b":"1"}]}`, `$.a[1].b: expected the number 1, got the string "1"`},
		{`{"a":1,"b":2}`, `{"a":1,"c":2}`, `$: member "b" missing`},
		{`[1,2]`, `[1]`, `$: expected an array of 2, got [1]`},
		{`"é"`, `"e\u0301"`, `$: expected the string "\u00e9", got the string "e\u0301"`},
		{`null`, `false`, `$: expected null, got false`},
		{`9007199254740993`, `9007199254740992`, `$: expected the number 9007199254740993, got the number 9007199254740992`},
	} {
		a, err := Decode([]byte(c.a))
		if err != nil {
			t.Fatal(err)
		}
		b, err := Decode([]byte(c.b))
		if err != nil {
			t.Fatal(err)
		}
		if got := Difference(a, b); got != c.want {
			t.Errorf("Difference(%s, %s) = %q, want %q", c.a, c.b, got, c.want)
		}
		if Equal(a, b) != (c.want == "") {
			t.Errorf("Equal(%s, %s) = %v, Difference %q", c.a, c.b, Equal(a, b), c.want)
		}
	}
	if _, err := Decode([]byte(`1 2`)); err == nil {
		t.Error("Decode accepts two values")
	}
}
