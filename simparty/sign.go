package simparty

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/google/uuid"

	"mpcrelay/client"
	"mpcrelay/relay/protocol"
)

// JoinMode is how signers take their places in a sign session.
type JoinMode string

const (
	// ModeLoad: each signer claims its keygen party number with Session.load (§4.6).
	ModeLoad JoinMode = "load"
	// ModeSignup: each signer takes the next number with Session.signup (§4.5) and the signers
	// exchange their keygen party numbers in a first broadcast round (round 0): the original
	// JavaScript client's way.
	ModeSignup JoinMode = "signup"
)

// ParseJoinMode reads "load" or "signup"; "" is ModeLoad.
func ParseJoinMode(s string) (JoinMode, error) {
	switch JoinMode(strings.ToLower(strings.TrimSpace(s))) {
	case "", ModeLoad:
		return ModeLoad, nil
	case ModeSignup:
		return ModeSignup, nil
	}
	return "", fmt.Errorf("unknown join mode %q (want load or signup)", s)
}

// SignConfig configures Sign (through a relay) and SignLocal (in memory; URL, ClientOptions,
// Label and Observer are ignored there).
type SignConfig struct {
	URL string
	// URLs, when set, spreads the connections over relay nodes: connection i (signers in
	// order, then the observer) dials URLs[i mod len(URLs)].
	URLs    []string
	Shares  []*Share // exactly the t+1 signers, one party each; the first creates the group and session
	Message []byte   // secp256k1: the 32-byte digest; ed25519: the message itself
	Mode    JoinMode // "" → ModeLoad
	Timeout time.Duration
	// Progress is optional; calls are serialised.
	Progress func(Progress)
	Label    string // group label; "" → "simparty sign"
	// Observer adds a group member that does not sign and must receive the signature through
	// notifySigned (§4.10). Needs t+1 < n (the group has n places).
	Observer bool
	Drop     *Drop // optional fault injection; Party is the signer's number in the sign session
	// ClientOptions are passed to client.Dial for every connection.
	ClientOptions []client.Option
}

func (cfg *SignConfig) check() error {
	if len(cfg.Shares) == 0 {
		return errors.New("sign: no key shares")
	}
	if err := checkSameKey(cfg.Shares); err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	s := cfg.Shares[0]
	if len(cfg.Shares) != s.Threshold+1 {
		return fmt.Errorf("sign: a %d-of-%d key is signed by exactly %d parties, got %d shares", s.Threshold+1, s.Parties, s.Threshold+1, len(cfg.Shares))
	}
	switch {
	case s.Curve == CurveSecp256k1 && len(cfg.Message) != 32:
		return fmt.Errorf("sign: secp256k1 signs a 32-byte digest, the message is %d bytes", len(cfg.Message))
	case len(cfg.Message) == 0:
		return errors.New("sign: the message is empty")
	}
	mode, err := ParseJoinMode(string(cfg.Mode))
	if err != nil {
		return fmt.Errorf("sign: %w", err)
	}
	cfg.Mode = mode
	if cfg.Observer && s.Threshold+1 >= s.Parties {
		return fmt.Errorf("sign: an observer needs a free place in the group, and %d signers fill all %d", s.Threshold+1, s.Parties)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	if cfg.Timeout < 0 {
		return fmt.Errorf("sign: timeout must be positive, got %s", cfg.Timeout)
	}
	if cfg.Label == "" {
		cfg.Label = "simparty sign"
	}
	return nil
}

// dropHook is KeygenConfig.dropHook for signing.
func (cfg *SignConfig) dropHook(self uint16) func(int) error {
	k := KeygenConfig{Drop: cfg.Drop}
	return k.dropHook(self)
}

// signPlan is what each signer is told: its share and the message. Sign gives every signer the
// same message; tests give them different ones to check that disagreement fails clearly.
type signPlan struct {
	shares   []*Share
	messages [][]byte
}

func (cfg *SignConfig) plan() signPlan {
	p := signPlan{shares: cfg.Shares, messages: make([][]byte, len(cfg.Shares))}
	for i := range p.messages {
		p.messages[i] = cfg.Message
	}
	return p
}

func (p signPlan) signers() []uint16 {
	out := make([]uint16, len(p.shares))
	for i, s := range p.shares {
		out[i] = s.PartyNumber
	}
	return out
}

// Sign signs cfg.Message with the t+1 shares, each signer in this process on its own connection to
// the relay (§7): the first signer creates a group and a sign session whose value is the message
// (hex) and announces it with Notify.proposal; the others join the group and, on notifyProposal, the
// session; all take their places (cfg.Mode), run tss-lib signing, finish, and the first signer
// sends Notify.signed. The signature is verified before it is returned.
func Sign(ctx context.Context, cfg SignConfig) (*Signature, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if cfg.URL == "" {
		return nil, errors.New("sign: no relay URL (SignLocal runs without a relay)")
	}
	return signRelay(ctx, cfg, cfg.plan())
}

func signRelay(ctx context.Context, cfg SignConfig, plan signPlan) (*Signature, error) {
	signers := len(plan.shares)
	others := signers - 1
	if cfg.Observer {
		others++
	}
	setup := newGroupSetup(others)
	report := newReporter(cfg.Progress)

	// The observer waits for notifySigned until the signers are done, plus a timeout when they succeeded.
	octx, ocancel := context.WithCancelCause(ctx)
	defer ocancel(nil)
	var (
		mu        sync.Mutex
		remaining = signers
		allOK     = true
	)
	signerDone := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		remaining--
		allOK = allOK && err == nil
		if remaining == 0 {
			if allOK {
				time.AfterFunc(cfg.Timeout, func() {
					ocancel(fmt.Errorf("%w: no notifySigned within %s after the signers finished", ErrNoProgress, cfg.Timeout))
				})
			} else {
				ocancel(errAborted) // the observer's wait ends with the signers' failure
			}
		}
	}

	var observed *SignatureJSON
	sigs, err := crew(signers+boolInt(cfg.Observer), func(i int) (*Signature, error) {
		p := &relayParty{url: partyURL(cfg.URL, cfg.URLs, i), opts: cfg.ClientOptions, kind: protocol.KindSign, timeout: cfg.Timeout, report: report}
		if i == signers {
			v, err := p.observe(octx, setup)
			observed = v
			return nil, err
		}
		sig, err := p.sign(ctx, &cfg, setup, i == 0, plan.shares[i], plan.messages[i], plan.signers())
		signerDone(err)
		return sig, err
	})
	if err != nil {
		return nil, err
	}
	sig := sigs[0]
	for i, s := range sigs[1:signers] {
		if !bytes.Equal(s.Signature, sig.Signature) {
			return nil, fmt.Errorf("sign: signers disagree on the signature: %x (party %d) vs %x (party %d)",
				sig.Signature, plan.shares[0].PartyNumber, s.Signature, plan.shares[i+1].PartyNumber)
		}
	}
	if cfg.Observer {
		if want := sig.JSON(); observed == nil || !equalSigJSON(*observed, want) {
			return nil, fmt.Errorf("sign: the observer's notifySigned value %+v differs from the signature %+v", observed, want)
		}
		sig.ObserverNotified = true
	}
	return sig, nil
}

func boolInt(b bool) int {
	if b {
		return 1
	}
	return 0
}

func equalSigJSON(a, b SignatureJSON) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// sign is one signer's side of Sign.
func (p *relayParty) sign(ctx context.Context, cfg *SignConfig, setup *groupSetup, creator bool, share *Share, message []byte, signers []uint16) (*Signature, error) {
	if err := share.Validate(); err != nil {
		return nil, p.fail(PhaseConnect, fmt.Errorf("share of party %d: %w", share.PartyNumber, err))
	}
	if err := p.dial(ctx); err != nil {
		if creator {
			setup.resolve(uuid.Nil, err)
		} else {
			setup.joined <- err
		}
		return nil, err
	}
	defer p.c.Close()
	msgHex := hex.EncodeToString(message)
	var session protocol.Session
	if creator {
		params := protocol.Parameters{Parties: uint16(share.Parties), Threshold: uint16(share.Threshold)}
		g, err := p.c.GroupCreate(ctx, cfg.Label, params)
		setup.resolve(g, err)
		if err != nil {
			return nil, p.fail(PhaseConnect, fmt.Errorf("Group.create: %w", err))
		}
		p.group = g
		p.report.report(Progress{Phase: PhaseConnect, Kind: p.kind})
		if err := setup.waitJoined(ctx, cap(setup.joined)); err != nil {
			return nil, p.fail(PhaseConnect, err)
		}
		if session, err = p.c.SessionCreate(ctx, g, protocol.KindSign, msgHex); err != nil {
			return nil, p.fail(PhaseConnect, fmt.Errorf("Session.create: %w", err))
		}
		// §7: sign sessions send no sessionCreate; the proposal tells the group.
		if err := p.c.NotifyProposal(ctx, g, session.UUID, "sign-"+session.UUID.String(), msgHex); err != nil {
			return nil, p.fail(PhaseConnect, fmt.Errorf("Notify.proposal: %w", err))
		}
	} else {
		proposals, err := p.joinGroup(ctx, setup, protocol.EventNotifyProposal)
		if err != nil {
			return nil, err
		}
		ev, err := p.await(ctx, proposals, "notifyProposal")
		proposals.Close()
		if err != nil {
			return nil, p.fail(PhaseConnect, err)
		}
		prop, err := ev.AsProposal()
		if err != nil {
			return nil, p.fail(PhaseConnect, err)
		}
		sid, err := uuid.Parse(prop.SessionID)
		if err != nil {
			return nil, p.fail(PhaseConnect, fmt.Errorf("notifyProposal names session %q: %w", prop.SessionID, err))
		}
		if session, err = p.c.SessionJoin(ctx, p.group, sid, protocol.KindSign); err != nil {
			return nil, p.fail(PhaseConnect, fmt.Errorf("Session.join: %w", err))
		}
	}
	// A signer signs what the session says, and only if that is what it was asked to sign.
	var value string
	if err := json.Unmarshal(session.Value, &value); err != nil || value != msgHex {
		return nil, p.fail(PhaseConnect, fmt.Errorf("signers disagree: session %s asks to sign %s, this party was asked to sign %s", session.UUID, session.Value, msgHex))
	}
	p.session = session.UUID
	var load uint16
	if cfg.Mode == ModeLoad {
		load = share.PartyNumber
	}
	link, err := p.signup(ctx, load)
	if err != nil {
		return nil, err
	}
	defer link.sub.Close()
	sessionOf := map[uint16]uint16{} // keygen party → session number
	var pending []protocol.Message
	if cfg.Mode == ModeSignup {
		if sessionOf, pending, err = exchangeIntros(ctx, link, p.session, p.number, share, message, p.timeout, p.report); err != nil {
			return nil, err
		}
	} else {
		for _, k := range signers {
			sessionOf[k] = k
		}
	}
	ros, err := signRoster(share.keys(), sessionOf, share.PartyNumber)
	if err != nil {
		return nil, p.fail(PhaseStart, err)
	}
	r := &runner{kind: p.kind, session: p.session, roster: ros, link: link, timeout: p.timeout, report: p.report,
		pending: pending, beforeRound: cfg.dropHook(p.number), dropConn: func() { p.c.Close() }}
	sig, err := runSign(ctx, r, share, message)
	if err != nil {
		return nil, err
	}
	p.report.report(Progress{Phase: PhaseDone, Kind: p.kind, Session: p.session, Party: p.number})
	if err := p.finish(ctx); err != nil {
		return nil, err
	}
	if creator {
		if err := p.c.NotifySigned(ctx, p.group, p.session, sig.JSON()); err != nil {
			return nil, p.fail(stageFinish, fmt.Errorf("Notify.signed: %w", err))
		}
	}
	return sig, nil
}

// observe is the group member that does not sign: it must learn the signature from notifySigned.
func (p *relayParty) observe(ctx context.Context, setup *groupSetup) (*SignatureJSON, error) {
	if err := p.dial(ctx); err != nil {
		setup.joined <- err
		return nil, err
	}
	defer p.c.Close()
	signed, err := p.joinGroup(ctx, setup, protocol.EventNotifySigned)
	if err != nil {
		return nil, err
	}
	defer signed.Close()
	ev, err := signed.Next(ctx)
	if err != nil {
		if cause := context.Cause(ctx); cause != nil {
			err = cause
		}
		return nil, p.fail(stageFinish, fmt.Errorf("observer (not a signer): %w", err))
	}
	var v SignatureJSON
	if err := json.Unmarshal(ev.Payload, &v); err != nil {
		return nil, p.fail(stageFinish, fmt.Errorf("observer: notifySigned value %s: %w", ev.Payload, err))
	}
	return &v, nil
}

// SignLocal runs the same signing as Sign with the signers on an in-memory router (the benchmark's
// baseline). In ModeLoad the router numbers parties by keygen party number; in ModeSignup by their
// order in cfg.Shares, and round 0 exchanges keygen indices as through a relay.
func SignLocal(ctx context.Context, cfg SignConfig) (*Signature, error) {
	if err := cfg.check(); err != nil {
		return nil, err
	}
	plan := cfg.plan()
	numbers := make([]uint16, len(plan.shares))
	for i, s := range plan.shares {
		numbers[i] = s.PartyNumber
		if cfg.Mode == ModeSignup {
			numbers[i] = uint16(i + 1)
		}
	}
	router := newMemRouter(numbers)
	report := newReporter(cfg.Progress)
	sigs, err := crew(len(plan.shares), func(i int) (*Signature, error) {
		share, self := plan.shares[i], numbers[i]
		link := router.link(self)
		sessionOf := map[uint16]uint16{}
		var pending []protocol.Message
		if cfg.Mode == ModeSignup {
			var err error
			if sessionOf, pending, err = exchangeIntros(ctx, link, uuid.Nil, self, share, plan.messages[i], cfg.Timeout, report); err != nil {
				return nil, err
			}
		} else {
			for _, k := range plan.signers() {
				sessionOf[k] = k
			}
		}
		ros, err := signRoster(share.keys(), sessionOf, share.PartyNumber)
		if err != nil {
			return nil, &PartyError{Party: self, Kind: protocol.KindSign, Stage: PhaseStart, Err: err}
		}
		r := &runner{kind: protocol.KindSign, roster: ros, link: link, timeout: cfg.Timeout, report: report,
			pending: pending, beforeRound: cfg.dropHook(self)}
		return runSign(ctx, r, share, plan.messages[i])
	})
	if err != nil {
		return nil, err
	}
	for _, s := range sigs[1:] {
		if !bytes.Equal(s.Signature, sigs[0].Signature) {
			return nil, fmt.Errorf("sign: signers disagree on the signature: %x vs %x", sigs[0].Signature, s.Signature)
		}
	}
	return sigs[0], nil
}
