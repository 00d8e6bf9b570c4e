package simparty

import (
	"context"
	"errors"
	"sort"
	"sync"

	"github.com/google/uuid"
)

// errAborted marks a party that stopped because another one failed during setup.
var errAborted = errors.New("stopped: another party failed during setup")

// crew runs f once per party, each on its own goroutine, and waits for all of them. Parties fail
// independently: one party's failure does not cancel the others, which find out the way real
// parties would (a stalled round, a relay error) within their timeout.
func crew[T any](n int, f func(i int) (T, error)) ([]T, error) {
	out := make([]T, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out[i], errs[i] = f(i)
		}()
	}
	wg.Wait()
	var fails Failures
	for _, err := range errs {
		if err == nil {
			continue
		}
		var pe *PartyError
		if !errors.As(err, &pe) {
			pe = &PartyError{Err: err}
		}
		fails = append(fails, pe)
	}
	if len(fails) == 0 {
		return out, nil
	}
	// Causes first, consequences after.
	sort.SliceStable(fails, func(i, j int) bool {
		return !errors.Is(fails[i], errAborted) && errors.Is(fails[j], errAborted)
	})
	return out, fails
}

// groupSetup hands the group uuid from the party that creates the group to the others, and tells
// the creator when every other party has joined it (so that they receive sessionCreate, §4.3).
type groupSetup struct {
	once   sync.Once
	ready  chan struct{}
	id     uuid.UUID
	err    error
	joined chan error // one value per non-creating party: nil once joined, or why it could not
}

func newGroupSetup(others int) *groupSetup {
	return &groupSetup{ready: make(chan struct{}), joined: make(chan error, others)}
}

func (g *groupSetup) resolve(id uuid.UUID, err error) {
	g.once.Do(func() {
		g.id, g.err = id, err
		close(g.ready)
	})
}

func (g *groupSetup) group(ctx context.Context) (uuid.UUID, error) {
	select {
	case <-g.ready:
		if g.err != nil {
			return uuid.Nil, errAborted
		}
		return g.id, nil
	case <-ctx.Done():
		return uuid.Nil, ctx.Err()
	}
}

// waitJoined waits for the n other parties; any that could not join aborts the setup.
func (g *groupSetup) waitJoined(ctx context.Context, n int) error {
	for i := 0; i < n; i++ {
		select {
		case err := <-g.joined:
			if err != nil {
				return errAborted
			}
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return nil
}
