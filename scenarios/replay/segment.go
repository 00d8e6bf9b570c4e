package replay

import (
	"fmt"
	"strconv"
	"strings"
)

// Segment is one slice i of n of a load (k6's execution segments, by groups): segment i runs
// the groups [Groups·(i-1)/n, Groups·i/n), each with exactly the sessions the whole run would
// give it, so the n slices add up to the whole run with no group or session in two of them.
type Segment struct {
	I, N int // 1 ≤ I ≤ N; the zero Segment is the whole load
}

// ParseSegment reads "i/n".
func ParseSegment(s string) (Segment, error) {
	a, b, ok := strings.Cut(s, "/")
	i, err1 := strconv.Atoi(strings.TrimSpace(a))
	n, err2 := strconv.Atoi(strings.TrimSpace(b))
	if !ok || err1 != nil || err2 != nil {
		return Segment{}, fmt.Errorf("--segment %q: want i/n, e.g. 2/3 (segment 2 of 3)", s)
	}
	seg := Segment{I: i, N: n}
	return seg, seg.Check()
}

// Check reports a segment that names no slice.
func (s Segment) Check() error {
	if s == (Segment{}) {
		return nil
	}
	if s.N < 1 || s.I < 1 || s.I > s.N {
		return fmt.Errorf("--segment %d/%d: want 1 ≤ i ≤ n", s.I, s.N)
	}
	return nil
}

func (s Segment) String() string {
	if s == (Segment{}) {
		return ""
	}
	return fmt.Sprintf("%d/%d", s.I, s.N)
}

// Range is the segment's groups [first, end) of groups.
func (s Segment) Range(groups int) (first, end int) {
	if s == (Segment{}) {
		return 0, groups
	}
	return groups * (s.I - 1) / s.N, groups * s.I / s.N
}
