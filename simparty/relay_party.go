package simparty

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/google/uuid"

	"mpcrelay/client"
	"mpcrelay/relay/protocol"
)

const stageFinish = "finish"

// relayParty is one simulated party's connection to a relay and its place in a session.
type relayParty struct {
	url     string
	opts    []client.Option
	kind    protocol.SessionKind
	timeout time.Duration
	report  *reporter

	c       *client.Client
	group   uuid.UUID
	session uuid.UUID
	number  uint16
}

func (p *relayParty) fail(stage string, err error) *PartyError {
	var pe *PartyError
	if errors.As(err, &pe) {
		return pe
	}
	return &PartyError{Party: p.number, Kind: p.kind, Stage: stage, Err: err}
}

func (p *relayParty) dial(ctx context.Context) error {
	c, err := client.Dial(ctx, p.url, p.opts...)
	if err != nil {
		return p.fail(PhaseConnect, err)
	}
	p.c = c
	return nil
}

// joinGroup waits for the group the creator made, joins it, subscribes to the events named (before
// telling the creator, so none is missed) and tells the creator it is in.
func (p *relayParty) joinGroup(ctx context.Context, setup *groupSetup, names ...string) (*client.Subscription, error) {
	g, err := setup.group(ctx)
	if err == nil {
		_, err = p.c.GroupJoin(ctx, g)
		if err != nil {
			err = fmt.Errorf("Group.join: %w", err)
		}
	}
	if err != nil {
		setup.joined <- err
		return nil, p.fail(PhaseConnect, err)
	}
	p.group = g
	sub := p.c.Subscribe(client.Filter{Names: names})
	setup.joined <- nil
	p.report.report(Progress{Phase: PhaseConnect, Kind: p.kind})
	return sub, nil
}

// await waits for the next event of sub, at most p.timeout.
func (p *relayParty) await(ctx context.Context, sub *client.Subscription, what string) (client.Event, error) {
	wctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	ev, err := sub.Next(wctx)
	if err != nil && errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
		return ev, fmt.Errorf("%w: no %s within %s", ErrNoProgress, what, p.timeout)
	}
	return ev, err
}

// signup subscribes to the session's messages, then signs up (load == 0, §4.5) or claims party
// number load (§4.6), and waits until the session is complete (sessionSignup / sessionLoad).
// Messages that arrive from here on are queued by the subscription: none is lost to a fast peer.
func (p *relayParty) signup(ctx context.Context, load uint16) (*relayLink, error) {
	msgs := p.c.Subscribe(client.Filter{Names: []string{protocol.EventSessionMessage}, Session: p.session})
	readyEvent := protocol.EventSessionSignup
	if load != 0 {
		readyEvent = protocol.EventSessionLoad
	}
	ready := p.c.Subscribe(client.Filter{Names: []string{readyEvent}, Session: p.session})
	defer ready.Close()
	var err error
	if load == 0 {
		p.number, err = p.c.SessionSignup(ctx, p.group, p.session, p.kind)
		if err != nil {
			err = fmt.Errorf("Session.signup: %w", err)
		}
	} else {
		var n uint16
		n, err = p.c.SessionLoad(ctx, p.group, p.session, p.kind, load)
		if err != nil {
			err = fmt.Errorf("Session.load %d: %w", load, err)
		} else if n != load {
			err = fmt.Errorf("Session.load %d: the relay answered party number %d", load, n)
		}
		p.number = load
	}
	if err == nil && p.number == 0 {
		err = errors.New("the relay issued party number 0")
	}
	if err != nil {
		msgs.Close()
		return nil, p.fail(PhaseSignup, err)
	}
	p.report.report(Progress{Phase: PhaseSignup, Kind: p.kind, Session: p.session, Party: p.number})
	if _, err := p.await(ctx, ready, readyEvent); err != nil {
		msgs.Close()
		return nil, p.fail(PhaseSignup, err)
	}
	p.report.report(Progress{Phase: PhaseStart, Kind: p.kind, Session: p.session, Party: p.number})
	return &relayLink{c: p.c, group: p.group, session: p.session, kind: p.kind, sub: msgs}, nil
}

// finish ends the party's part in the session and waits for everyone's (§4.8).
func (p *relayParty) finish(ctx context.Context) error {
	closed := p.c.Subscribe(client.Filter{Names: []string{protocol.EventSessionClosed}})
	defer closed.Close()
	if err := p.c.SessionFinish(ctx, p.group, p.session, p.number); err != nil {
		return p.fail(stageFinish, fmt.Errorf("Session.finish: %w", err))
	}
	ev, err := p.await(ctx, closed, "sessionClosed")
	if err != nil {
		return p.fail(stageFinish, err)
	}
	parties, err := ev.AsParties()
	if err != nil {
		return p.fail(stageFinish, err)
	}
	if !slices.Contains(parties, p.number) {
		return p.fail(stageFinish, fmt.Errorf("sessionClosed lists parties %v, without this party", parties))
	}
	p.report.report(Progress{Phase: PhaseClosed, Kind: p.kind, Session: p.session, Party: p.number})
	return nil
}

// relayLink is a Link over Session.message and the sessionMessage events of one session (§4.7).
type relayLink struct {
	c              *client.Client
	group, session uuid.UUID
	kind           protocol.SessionKind
	sub            *client.Subscription
}

func (l *relayLink) Send(ctx context.Context, m protocol.Message) error {
	return l.c.SessionMessage(ctx, l.group, l.session, l.kind, m)
}

func (l *relayLink) Next(ctx context.Context) (protocol.Message, error) {
	ev, err := l.sub.Next(ctx)
	if err != nil {
		return protocol.Message{}, err
	}
	return ev.AsMessage()
}
