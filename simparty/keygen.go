package simparty

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sort"
	"time"

	ecdsakeygen "github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	"github.com/google/uuid"

	"mpcrelay/client"
	"mpcrelay/relay/protocol"
	"mpcrelay/simparty/preparams"
)

// Drop is fault injection: the party with number Party closes its connection (on the in-memory
// router: stops) once it has sent its messages of round AfterRound, just before its next round.
type Drop struct {
	Party      uint16
	AfterRound int
}

// ErrDropped is the error of the party a Drop stopped.
var ErrDropped = errors.New("dropped by fault injection")

// KeygenConfig configures Keygen (through a relay) and KeygenLocal (in memory; URL and
// ClientOptions are ignored there).
type KeygenConfig struct {
	URL string // ws://host:port/mpc
	// URLs, when set, spreads the parties over several relay nodes (a cluster): party i
	// connects to URLs[i mod len(URLs)]; the first party, which creates the group, to URLs[0].
	URLs               []string
	Curve              Curve
	Threshold, Parties int // t and n: any t+1 of the n parties sign
	// PreParams are the Paillier pre-params ECDSA keygen needs, one distinct set per party, picked
	// with preparams.Pick from PoolOffset on. nil → the embedded test pool. Unused for ed25519.
	PreParams  []ecdsakeygen.LocalPreParams
	PoolOffset int
	Timeout    time.Duration  // per-round no-progress timeout, also bounds each setup wait; 0 → DefaultTimeout
	Progress   func(Progress) // optional; calls are serialised
	Label      string         // group label (§4.1); "" → "simparty keygen"
	Drop       *Drop          // optional fault injection
	// ClientOptions are passed to client.Dial for every party's connection.
	ClientOptions []client.Option
}

func (cfg *KeygenConfig) check() error {
	if err := cfg.Curve.valid(); err != nil {
		return err
	}
	if cfg.Parties < 2 || cfg.Parties > math.MaxUint16 {
		return fmt.Errorf("parties must be between 2 and %d, got %d", math.MaxUint16, cfg.Parties)
	}
	if cfg.Threshold < 1 || cfg.Threshold >= cfg.Parties {
		return fmt.Errorf("threshold must satisfy 0 < t < n, got t=%d n=%d", cfg.Threshold, cfg.Parties)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 {
		return fmt.Errorf("timeout must be positive, got %s", cfg.Timeout)
	}
	return nil
}

// preParams returns one set per party (index = party number - 1), nil for ed25519.
func (cfg *KeygenConfig) preParams() ([]ecdsakeygen.LocalPreParams, error) {
	if cfg.Curve != CurveSecp256k1 {
		return nil, nil
	}
	pool := cfg.PreParams
	if pool == nil {
		var err error
		if pool, err = preparams.Embedded(); err != nil {
			return nil, fmt.Errorf("embedded pre-param pool: %w", err)
		}
	}
	for i := range pool {
		if !pool[i].ValidateWithProof() {
			return nil, fmt.Errorf("pre-param set %d is incomplete", i+1)
		}
	}
	return preparams.Pick(pool, cfg.Parties, cfg.PoolOffset)
}

func (cfg *KeygenConfig) dropHook(self uint16) func(int) error {
	d := cfg.Drop
	if d == nil || d.Party != self {
		return nil
	}
	return func(round int) error {
		if round > d.AfterRound {
			return fmt.Errorf("%w after round %d", ErrDropped, d.AfterRound)
		}
		return nil
	}
}

// KeygenLocal runs the same keygen as Keygen with every party on an in-memory router instead of a
// relay: the baseline of the benchmark. Shares come back in party-number order.
func KeygenLocal(ctx context.Context, cfg KeygenConfig) ([]*Share, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	pre, err := cfg.preParams()
	if err != nil {
		return nil, err
	}
	numbers := make([]uint16, cfg.Parties)
	for i := range numbers {
		numbers[i] = uint16(i + 1)
	}
	router := newMemRouter(numbers)
	report := newReporter(cfg.Progress)
	return crew(cfg.Parties, func(i int) (*Share, error) {
		self := uint16(i + 1)
		r := &runner{kind: protocol.KindKeygen, roster: keygenRoster(cfg.Parties, self), link: router.link(self),
			timeout: cfg.Timeout, report: report, beforeRound: cfg.dropHook(self)}
		report.report(Progress{Phase: PhaseStart, Kind: protocol.KindKeygen, Party: self})
		share, err := runKeygen(ctx, r, cfg.Curve, cfg.Threshold, preFor(pre, i))
		if err == nil {
			report.report(Progress{Phase: PhaseDone, Kind: protocol.KindKeygen, Party: self})
		}
		return share, err
	})
}

func preFor(pre []ecdsakeygen.LocalPreParams, i int) *ecdsakeygen.LocalPreParams {
	if pre == nil {
		return nil
	}
	return &pre[i]
}

// Keygen runs a keygen of cfg.Parties parties, all in this process, each on its own connection to
// the relay at cfg.URL (§7): the first creates the group and the keygen session, the others join
// the group, learn of the session from sessionCreate, join it, and all sign up; on sessionSignup
// each starts its tss-lib LocalParty, with the party number the relay issued fixing its position.
// Shares come back in party-number order. When parties fail, the error is Failures.
func Keygen(ctx context.Context, cfg KeygenConfig) ([]*Share, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		return nil, errors.New("keygen: no relay URL (KeygenLocal runs without a relay)")
	}
	pre, err := cfg.preParams()
	if err != nil {
		return nil, err
	}
	if cfg.Label == "" {
		cfg.Label = "simparty keygen"
	}
	setup := newGroupSetup(cfg.Parties - 1)
	report := newReporter(cfg.Progress)
	shares, err := crew(cfg.Parties, func(i int) (*Share, error) {
		p := &relayParty{url: partyURL(cfg.URL, cfg.URLs, i), opts: cfg.ClientOptions, kind: protocol.KindKeygen, timeout: cfg.Timeout, report: report}
		return p.keygen(ctx, &cfg, setup, i == 0, pre)
	})
	if err != nil {
		return nil, err
	}
	sort.Slice(shares, func(i, j int) bool { return shares[i].PartyNumber < shares[j].PartyNumber })
	for i, s := range shares {
		if int(s.PartyNumber) != i+1 {
			return nil, fmt.Errorf("keygen: the relay issued party numbers that are not 1..%d (got %d at position %d)", cfg.Parties, s.PartyNumber, i+1)
		}
	}
	if err := checkSameKey(shares); err != nil {
		return nil, fmt.Errorf("keygen: %w", err)
	}
	return shares, nil
}

// keygen is one party's side of Keygen.
func (p *relayParty) keygen(ctx context.Context, cfg *KeygenConfig, setup *groupSetup, creator bool, pre []ecdsakeygen.LocalPreParams) (*Share, error) {
	if err := p.dial(ctx); err != nil {
		if creator {
			setup.resolve(uuid.Nil, err)
		} else {
			setup.joined <- err
		}
		return nil, err
	}
	defer p.c.Close()
	params := protocol.Parameters{Parties: uint16(cfg.Parties), Threshold: uint16(cfg.Threshold)}
	var session protocol.Session
	if creator {
		g, err := p.c.GroupCreate(ctx, cfg.Label, params)
		setup.resolve(g, err)
		if err != nil {
			return nil, p.fail(PhaseConnect, fmt.Errorf("Group.create: %w", err))
		}
		p.group = g
		p.report.report(Progress{Phase: PhaseConnect, Kind: p.kind})
		if err := setup.waitJoined(ctx, cfg.Parties-1); err != nil {
			return nil, p.fail(PhaseConnect, err)
		}
		if session, err = p.c.SessionCreate(ctx, g, protocol.KindKeygen, nil); err != nil {
			return nil, p.fail(PhaseConnect, fmt.Errorf("Session.create: %w", err))
		}
	} else {
		created, err := p.joinGroup(ctx, setup, protocol.EventSessionCreate)
		if err != nil {
			return nil, err
		}
		ev, err := p.await(ctx, created, "sessionCreate")
		created.Close()
		if err != nil {
			return nil, p.fail(PhaseConnect, err)
		}
		if session, err = ev.AsSession(); err != nil {
			return nil, p.fail(PhaseConnect, err)
		}
		if session.Kind != protocol.KindKeygen {
			return nil, p.fail(PhaseConnect, fmt.Errorf("sessionCreate announced a %s session, want keygen", session.Kind))
		}
		if _, err := p.c.SessionJoin(ctx, p.group, session.UUID, protocol.KindKeygen); err != nil {
			return nil, p.fail(PhaseConnect, fmt.Errorf("Session.join: %w", err))
		}
	}
	p.session = session.UUID
	link, err := p.signup(ctx, 0)
	if err != nil {
		return nil, err
	}
	defer link.sub.Close()
	if int(p.number) > cfg.Parties {
		return nil, p.fail(PhaseSignup, fmt.Errorf("the relay issued party number %d in a keygen of %d parties", p.number, cfg.Parties))
	}
	r := &runner{kind: p.kind, session: p.session, roster: keygenRoster(cfg.Parties, p.number), link: link,
		timeout: p.timeout, report: p.report, beforeRound: cfg.dropHook(p.number), dropConn: func() { p.c.Close() }}
	share, err := runKeygen(ctx, r, cfg.Curve, cfg.Threshold, preFor(pre, int(p.number)-1))
	if err != nil {
		return nil, err
	}
	p.report.report(Progress{Phase: PhaseDone, Kind: p.kind, Session: p.session, Party: p.number})
	if err := p.finish(ctx); err != nil {
		return nil, err
	}
	return share, nil
}

// partyURL is the relay node party i dials: URLs[i mod len(URLs)], or url.
func partyURL(url string, urls []string, i int) string {
	if len(urls) == 0 {
		return url
	}
	return urls[i%len(urls)]
}
