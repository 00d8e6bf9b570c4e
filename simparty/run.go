package simparty

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// DefaultTimeout is how long a round may go without progress when a config leaves Timeout zero.
const DefaultTimeout = 2 * time.Minute

// runner is tss-lib's local_party_test routing loop for one party, with the loop's shared channel
// replaced by a Link: outgoing messages become Session.message, incoming ones UpdateFromBytes.
type runner struct {
	kind    protocol.SessionKind
	session uuid.UUID
	roster  *roster
	link    Link
	timeout time.Duration
	report  *reporter
	pending []protocol.Message // arrived before the LocalParty was built (a fast peer started first)

	// beforeRound, when set, is called before the party sends its first message of a round; an
	// error stops the party (fault injection: drop a connection after a given round).
	beforeRound func(round int) error
	// dropConn, when set, is called after a beforeRound error has been reported: closing the
	// connection first would let the receiver's "connection closed" win the race.
	dropConn func()

	round atomic.Int32 // the round of the last message sent: the round the party is waiting in
}

func (r *runner) fail(stage string, err error) *PartyError {
	var pe *PartyError
	if errors.As(err, &pe) {
		return pe
	}
	return &PartyError{Party: r.roster.selfNumber(), Kind: r.kind, Stage: stage, Round: int(r.round.Load()), Err: err}
}

// run starts party and routes its messages until it delivers its result on end. Start and every
// Update run on the calling goroutine; out is drained by a goroutine of its own (tss-lib writes to
// out from inside Update), and a receiver goroutine feeds the loop from the Link. Both end before
// run returns.
func run[T any](ctx context.Context, r *runner, party tss.Party, out chan tss.Message, end <-chan T) (T, error) {
	var zero T
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errc := make(chan error, 2)
	in := make(chan protocol.Message)
	updaterDone := make(chan struct{})
	var sender, receiver sync.WaitGroup
	progress := make(chan struct{}, 1) // the sender's pulses: a message went out

	sender.Add(1)
	go func() {
		defer sender.Done()
		failed := false
		send := func(m tss.Message) {
			if failed {
				return // drain only: the party has failed, its messages go nowhere
			}
			if err := r.send(ctx, m); err != nil {
				failed = true
				errc <- err
				if errors.Is(err, ErrDropped) && r.dropConn != nil {
					r.dropConn()
				}
				return
			}
			select {
			case progress <- struct{}{}:
			default:
			}
		}
		for {
			select {
			case m := <-out:
				send(m)
			case <-updaterDone:
				// The updater has stopped writing to out: flush what it left and end.
				for {
					select {
					case m := <-out:
						send(m)
					default:
						return
					}
				}
			}
		}
	}()
	receiver.Add(1)
	go func() {
		defer receiver.Done()
		for {
			m, err := r.link.Next(ctx)
			if err != nil {
				if ctx.Err() == nil {
					errc <- err
				}
				return
			}
			select {
			case in <- m:
			case <-ctx.Done():
				return
			}
		}
	}()
	finish := func(ok bool) {
		if !ok {
			cancel()
		}
		close(updaterDone)
		sender.Wait()
		cancel()
		receiver.Wait()
	}

	if err := party.Start(); err != nil {
		finish(false)
		return zero, r.fail(PhaseRound, err)
	}
	for _, m := range r.pending {
		if err := r.apply(party, m); err != nil {
			finish(false)
			return zero, r.fail(PhaseRound, err)
		}
	}
	r.pending = nil
	timer := time.NewTimer(r.timeout)
	defer timer.Stop()
	for {
		select {
		case res := <-end: // checked first: a result beats any later failure
			finish(true)
			return res, nil
		default:
		}
		select {
		case res := <-end:
			finish(true)
			return res, nil
		case m := <-in:
			if err := r.apply(party, m); err != nil {
				finish(false)
				return zero, r.fail(PhaseRound, err)
			}
			timer.Reset(r.timeout)
		case <-progress:
			timer.Reset(r.timeout)
		case err := <-errc:
			finish(false)
			return zero, r.fail(PhaseRound, err)
		case <-timer.C:
			waiting := party.WaitingFor()
			finish(false)
			pe := r.fail(PhaseRound, fmt.Errorf("%w for %s", ErrNoProgress, r.timeout))
			pe.Waiting = r.roster.numbersOf(waiting)
			return zero, pe
		case <-ctx.Done():
			finish(false)
			return zero, r.fail(PhaseRound, ctx.Err())
		}
	}
}

// send turns one tss-lib message into Session.message calls: broadcast when To is nil, else one
// peer-to-peer message per recipient, receiver = the recipient's party number (§4.7).
func (r *runner) send(ctx context.Context, m tss.Message) error {
	wire, routing, err := m.WireBytes()
	if err != nil {
		return fmt.Errorf("encode %s: %w", m.Type(), err)
	}
	round := roundOf(m.Type())
	if prev := int(r.round.Load()); round > prev {
		if r.beforeRound != nil {
			if err := r.beforeRound(round); err != nil {
				return err
			}
		}
		r.round.Store(int32(round))
		r.report.report(Progress{Phase: PhaseRound, Kind: r.kind, Session: r.session, Party: r.roster.selfNumber(), Round: round})
	}
	self := r.roster.selfNumber()
	body, err := json.Marshal(tssBody{Sender: self, Broadcast: routing.IsBroadcast, Type: m.Type(), Wire: wire})
	if err != nil {
		return err
	}
	var receivers []*uint16
	if routing.To == nil {
		receivers = []*uint16{nil}
	} else {
		for _, to := range routing.To {
			if to == nil || to.Index < 0 || to.Index >= len(r.roster.ids) || to.Index == r.roster.self {
				return fmt.Errorf("tss-lib addressed %s to an unknown party %v", m.Type(), to)
			}
			receivers = append(receivers, protocol.Receiver(r.roster.numbers[to.Index]))
		}
	}
	for _, to := range receivers {
		msg := protocol.Message{Round: uint16(round), Sender: self, Receiver: to, UUID: r.session, Body: body}
		if err := r.link.Send(ctx, msg); err != nil {
			return fmt.Errorf("send %s: %w", shortType(m.Type()), err)
		}
		r.report.report(Progress{Phase: PhaseMessage, Kind: r.kind, Session: r.session, Party: self, Round: round,
			Receiver: to, Size: len(body), Body: body})
	}
	return nil
}

// apply hands one received message to tss-lib.
func (r *runner) apply(party tss.Party, m protocol.Message) error {
	idx, ok := r.roster.indexOf(m.Sender)
	if !ok || idx == r.roster.self {
		return fmt.Errorf("round %d message from party %d, which is not a peer in this session", m.Round, m.Sender)
	}
	if m.Receiver != nil && *m.Receiver != r.roster.selfNumber() {
		return fmt.Errorf("received party %d's round %d message for party %d", m.Sender, m.Round, *m.Receiver)
	}
	var b tssBody
	if err := json.Unmarshal(m.Body, &b); err != nil || b.Wire == nil {
		return fmt.Errorf("party %d's round %d message: body is not a tss-lib message (%v)", m.Sender, m.Round, err)
	}
	if b.Sender != m.Sender || b.Broadcast != m.Broadcast() {
		return fmt.Errorf("party %d's round %d message: body says sender %d, broadcast %t; envelope says sender %d, broadcast %t",
			m.Sender, m.Round, b.Sender, b.Broadcast, m.Sender, m.Broadcast())
	}
	if _, err := party.UpdateFromBytes(b.Wire, r.roster.ids[idx], b.Broadcast); err != nil {
		return fmt.Errorf("party %d's %s: %w", m.Sender, shortType(b.Type), err)
	}
	return nil
}

// shortType drops the protobuf package: binance.tsslib.ecdsa.keygen.KGRound2Message1 → KGRound2Message1.
func shortType(t string) string {
	if i := strings.LastIndexByte(t, '.'); i >= 0 {
		return t[i+1:]
	}
	return t
}
