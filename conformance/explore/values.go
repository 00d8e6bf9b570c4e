package explore

import (
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Values: every JSON value a field may carry, weighted to the edges — numbers at the limits of
// the integer types relays decode into, strings in every script and escape, nesting, and sizes
// up to the protocol's 1 MiB frame limit (§4.7).

// maxBig keeps a frame under 1 MiB, the smallest frame limit a relay may have (§4.7).
const maxBig = 900 << 10

// numberLits are numbers every relay must carry exactly: they are exact in a 64-bit integer or a
// binary64 float, but not all of them in a float64 decode (2^53+1, 2^64-1) or an int32.
var numberLits = []string{
	"0", "1", "-1", "7", "65535", "65536", "2147483647", "2147483648", "-2147483649",
	"4294967295", "4294967296", "9007199254740991", "9007199254740992", "9007199254740993",
	"9223372036854775807", "-9223372036854775808", "18446744073709551615", "12345678901234567",
	"0.5", "-1.25e-7", "3.141592653589793", "1e300", "-2.5E+10", "1.0", "100.25", "6.02214076e23",
}

// stringPieces are fragments strings are built from: every script width, escapes, controls.
var stringPieces = []string{
	"a", "Z", "0", " ", "-", "_", "wallet", "é", "ß", "Ж", "中文", "日本", "한", "ع", "😀", "🔑", "👩‍💻",
	"e\u0301", "\u2028", "\u00a0", "\t", "\n", "\"", "\\", "/", "<", "&", "\u0000", "\u001f", "\u007f", "\ufeff",
}

func randString(r *rand.Rand, maxLen int) string {
	if r.IntN(8) == 0 {
		return ""
	}
	n := 1 + r.IntN(maxLen)
	var b strings.Builder
	for b.Len() < n {
		if r.IntN(3) == 0 {
			b.WriteString(stringPieces[r.IntN(len(stringPieces))])
		} else {
			b.WriteByte(byte('a' + r.IntN(26)))
		}
	}
	s := b.String()
	for !utf8.ValidString(s) {
		s = s[:len(s)-1]
	}
	return s
}

// stringVal writes s as a JSON string, sometimes with every non-ASCII character \u-escaped
// (the same string, another encoding).
func stringVal(r *rand.Rand, s string) *Val {
	if r.IntN(4) == 0 {
		return lit(escapeAll(s))
	}
	return litJSON(s)
}

func escapeAll(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, c := range s {
		switch {
		case c == '"' || c == '\\':
			b.WriteByte('\\')
			b.WriteRune(c)
		case c < 0x20 || c > 0x7e:
			if c > 0xffff {
				c -= 0x10000
				fmt.Fprintf(&b, `\u%04x\u%04x`, 0xd800+(c>>10), 0xdc00+(c&0x3ff))
			} else {
				fmt.Fprintf(&b, `\u%04x`, c)
			}
		default:
			b.WriteRune(c)
		}
	}
	b.WriteByte('"')
	return b.String()
}

func randNumber(r *rand.Rand) *Val {
	switch r.IntN(4) {
	case 0, 3:
		return lit(numberLits[r.IntN(len(numberLits))])
	case 1:
		return lit(strconv.FormatInt(r.Int64N(1<<40)-1<<39, 10))
	}
	return lit(strconv.FormatFloat(float64(r.Int64N(1e9))/float64(1+r.IntN(1000)), 'g', -1, 64))
}

// randValue is any JSON value; size picks how big it may get.
func randValue(r *rand.Rand, depth int) *Val {
	k := r.IntN(10)
	if depth >= 4 && k >= 7 {
		k = r.IntN(7)
	}
	switch k {
	case 0:
		return lit("null")
	case 1:
		return lit([]string{"true", "false"}[r.IntN(2)])
	case 2, 3:
		return randNumber(r)
	case 4, 5, 6:
		return stringVal(r, randString(r, 24))
	case 7, 8:
		n := r.IntN(5)
		vs := make([]*Val, n)
		for i := range vs {
			vs[i] = randValue(r, depth+1)
		}
		return arr(vs...)
	}
	n := r.IntN(5)
	seen := map[string]bool{}
	var ms []Member
	for range n {
		k := randString(r, 10)
		if seen[k] {
			continue // a duplicate key is not one JSON value (RFC 8259 §4)
		}
		seen[k] = true
		ms = append(ms, member(k, randValue(r, depth+1)))
	}
	return obj(ms...)
}

// randPayload is a value for bodies and session values: mostly small, sometimes kilobytes,
// rarely near the frame limit.
func randPayload(r *rand.Rand) *Val {
	switch x := r.IntN(100); {
	case x < 2:
		return &Val{Big: &Big{Seed: r.Uint64(), N: 64<<10 + r.IntN(maxBig-64<<10)}}
	case x < 8:
		if r.IntN(2) == 0 {
			return &Val{Big: &Big{Seed: r.Uint64(), N: 1 + r.IntN(32<<10)}}
		}
		vs := make([]*Val, 20+r.IntN(200))
		for i := range vs {
			vs[i] = randValue(r, 2)
		}
		return arr(vs...)
	}
	return randValue(r, 0)
}

// badU16 are values that are not an unsigned 16-bit integer (§2.3: -32602).
var badU16 = []string{"65536", "-1", "1.5", "1.0", "1e2", `"3"`, "null", "true", "[]", "{}", "99999999999999999999"}

// badUUID are values that are not a UUID string (§2.3: -32602).
var badUUID = []string{`""`, `"not-a-uuid"`, `"6f2c8a1e-3b4d-4e5f-8a9b-0c1d2e3f4a5"`, `"6f2c8a1e-3b4d-4e5f-8a9b-0c1d2e3f4a5bb"`,
	`"zf2c8a1e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"`, "42", "null", "[]", `{"uuid":"6f2c8a1e-3b4d-4e5f-8a9b-0c1d2e3f4a5b"}`}

// badKind are values that are not a session kind (§3.3).
var badKind = []string{`"Keygen"`, `"signing"`, `""`, "0", "null", `["keygen"]`}

func pick(r *rand.Rand, xs []string) string { return xs[r.IntN(len(xs))] }
