//go:build unix

package replay

import (
	"fmt"
	"syscall"
)

// RaiseFileLimit lifts the soft limit of open files towards need (up to the hard limit) and
// returns the soft limit in force. Each replayed party is one socket here, and one more in an
// embedded relay: 1,000 groups of 3 need 6,000 descriptors in one process.
func RaiseFileLimit(need uint64) (uint64, error) {
	var l syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("getrlimit: %w", err)
	}
	if l.Cur >= need {
		return l.Cur, nil
	}
	want := min(need, l.Max)
	l.Cur = want
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &l); err != nil {
		return 0, fmt.Errorf("setrlimit to %d: %w", want, err)
	}
	return want, nil
}
