package simparty

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"

	"mpcrelay/relay/protocol"
)

// exchangeIntros is round 0 of signup-mode signing (the original JavaScript client's way): the
// relay issued session numbers 1..t+1 in signup order, so each signer broadcasts which keygen
// party's share it holds, and every signer learns the map session number → keygen party. Signers
// that hold shares of another key or were asked to sign another message fail here, clearly.
// Messages of later rounds that arrive meanwhile are kept for the runner, never dropped.
func exchangeIntros(ctx context.Context, link Link, session uuid.UUID, self uint16, share *Share, message []byte,
	timeout time.Duration, report *reporter) (map[uint16]uint16, []protocol.Message, error) {
	fail := func(err error, waiting []uint16) *PartyError {
		return &PartyError{Party: self, Kind: protocol.KindSign, Stage: PhaseRound, Round: introRound, Waiting: waiting, Err: err}
	}
	count := share.Threshold + 1
	if int(self) > count {
		return nil, nil, fail(fmt.Errorf("the relay issued party number %d in a session of %d signers", self, count), nil)
	}
	mine := introBody{KeygenParty: share.PartyNumber, PublicKey: hex.EncodeToString(share.PublicKey), Message: hex.EncodeToString(message)}
	body, err := json.Marshal(mine)
	if err != nil {
		return nil, nil, fail(err, nil)
	}
	report.report(Progress{Phase: PhaseRound, Kind: protocol.KindSign, Session: session, Party: self, Round: introRound})
	if err := link.Send(ctx, protocol.Message{Round: introRound, Sender: self, UUID: session, Body: body}); err != nil {
		return nil, nil, fail(fmt.Errorf("send keygen index: %w", err), nil)
	}
	report.report(Progress{Phase: PhaseMessage, Kind: protocol.KindSign, Session: session, Party: self, Round: introRound, Size: len(body), Body: body})

	keygenOf := map[uint16]uint16{self: share.PartyNumber} // session number → keygen party
	var pending []protocol.Message
	for len(keygenOf) < count {
		wctx, cancel := context.WithTimeout(ctx, timeout)
		m, err := link.Next(wctx)
		cancel()
		if err != nil {
			if errors.Is(err, context.DeadlineExceeded) && ctx.Err() == nil {
				var waiting []uint16
				for n := uint16(1); int(n) <= count; n++ {
					if _, ok := keygenOf[n]; !ok {
						waiting = append(waiting, n)
					}
				}
				return nil, nil, fail(fmt.Errorf("%w for %s", ErrNoProgress, timeout), waiting)
			}
			return nil, nil, fail(err, nil)
		}
		if m.Round != introRound {
			pending = append(pending, m)
			continue
		}
		var in introBody
		if err := json.Unmarshal(m.Body, &in); err != nil {
			return nil, nil, fail(fmt.Errorf("party %d's keygen index: %w", m.Sender, err), nil)
		}
		switch {
		case m.Sender < 1 || int(m.Sender) > count:
			return nil, nil, fail(fmt.Errorf("keygen index from party %d, outside the session's 1..%d", m.Sender, count), nil)
		case keygenOf[m.Sender] != 0:
			return nil, nil, fail(fmt.Errorf("party %d sent its keygen index twice", m.Sender), nil)
		case in.PublicKey != mine.PublicKey:
			return nil, nil, fail(fmt.Errorf("signers disagree: party %d holds a share of key %s, this party of key %s", m.Sender, in.PublicKey, mine.PublicKey), nil)
		case in.Message != mine.Message:
			return nil, nil, fail(fmt.Errorf("signers disagree: party %d signs message %s, this party %s", m.Sender, in.Message, mine.Message), nil)
		case in.KeygenParty < 1 || int(in.KeygenParty) > share.Parties:
			return nil, nil, fail(fmt.Errorf("party %d claims keygen party %d, outside 1..%d", m.Sender, in.KeygenParty, share.Parties), nil)
		}
		for n, k := range keygenOf {
			if k == in.KeygenParty {
				return nil, nil, fail(fmt.Errorf("signers disagree: parties %d and %d both hold keygen party %d's share", n, m.Sender, k), nil)
			}
		}
		keygenOf[m.Sender] = in.KeygenParty
	}
	session2 := make(map[uint16]uint16, count) // keygen party → session number
	for n, k := range keygenOf {
		session2[k] = n
	}
	return session2, pending, nil
}
