package conformance

import (
	"encoding/json"
	"fmt"

	"mpcrelay/conformance/jsonexact"
)

// equalJSON reports whether a and b hold the same JSON value, as §4.7 means "equal JSON"
// (package jsonexact: numbers as exact decimals, strings unescaped but not normalised). When
// they differ, the second result says where.
func equalJSON(a, b []byte) (bool, string) {
	va, err := jsonexact.Decode(a)
	if err != nil {
		return false, fmt.Sprintf("expected value is not JSON: %v", err)
	}
	vb, err := jsonexact.Decode(b)
	if err != nil {
		return false, fmt.Sprintf("not JSON: %v", err)
	}
	if d := jsonexact.Difference(va, vb); d != "" {
		return false, d
	}
	return true, ""
}

// expectJSON fails the case unless got is the same JSON value as want (equalJSON).
func expectJSON(t *T, what string, got, want []byte) {
	if ok, why := equalJSON(want, got); !ok {
		t.Failf(fmt.Sprintf("%s equal to %s", what, short(json.RawMessage(want))), "%s (%s)", short(json.RawMessage(got)), why)
	}
}

// jsonValues are values of every JSON type, each the whole body, value or payload in the
// round-trip cases: the falsy ones a JavaScript relay may drop (0, "", false), numbers beyond
// float64 and beyond JavaScript's safe integers, escapes, Unicode beyond the BMP, the line
// separators JavaScript once rejected, and nesting.
var jsonValues = []json.RawMessage{
	json.RawMessage(`0`),
	json.RawMessage(`""`),
	json.RawMessage(`false`),
	json.RawMessage(`null`),
	json.RawMessage(`true`),
	json.RawMessage(`[]`),
	json.RawMessage(`{}`),
	json.RawMessage(`-1`),
	json.RawMessage(`9007199254740993`),
	json.RawMessage(`12345678901234567890123`),
	json.RawMessage(`-0.000001234`),
	json.RawMessage(`3.14159265358979323846264338327950288`),
	json.RawMessage(`6.02214076e23`),
	json.RawMessage(`"ünïcødé, 中文, 🔑, e\u0301, \u2028\u2029"`),
	json.RawMessage(`"escapes: \" \\ \/ \b \f \n \r \t \u0000 \u001f"`),
	json.RawMessage(`{"a":[0,"",false,null,{"b":{"c":[[[]]]}}],"n":-9007199254740993,"s":"x\u00e9y"}`),
}

// unicodeStrings are the strings of the string round-trip cases (labels, proposals).
var unicodeStrings = []string{
	"",
	"ünïcødé",
	"中文标签",
	"🔑 wallet",
	"e\u0301 (decomposed, not normalised)",
	"quotes \" and \\ and\nnewlines\tand tabs",
	"\u2028\u2029 separators",
	"\u202e right-to-left override",
	"nul \u0000 byte",
}
