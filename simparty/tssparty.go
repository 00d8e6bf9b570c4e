package simparty

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"slices"

	"github.com/bnb-chain/tss-lib/v2/common"
	ecdsakeygen "github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	ecdsasigning "github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	eddsasigning "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	"github.com/bnb-chain/tss-lib/v2/tss"
)

// outBuffer lets tss-lib emit a whole round (a broadcast plus one message per peer) without
// waiting on the sender goroutine.
func outBuffer(n int) chan tss.Message { return make(chan tss.Message, 2*n+4) }

// runKeygen builds this party's keygen LocalParty and runs it. pre is required for secp256k1.
func runKeygen(ctx context.Context, r *runner, curve Curve, threshold int, pre *ecdsakeygen.LocalPreParams) (*Share, error) {
	n := len(r.roster.ids)
	params := tss.NewParameters(curve.ec(), tss.NewPeerContext(r.roster.ids), r.roster.selfID(), n, threshold)
	out := outBuffer(n)
	share := &Share{Curve: curve, PartyNumber: r.roster.selfNumber(), Threshold: threshold, Parties: n}
	switch curve {
	case CurveSecp256k1:
		if pre == nil || !pre.ValidateWithProof() {
			return nil, r.fail(PhaseStart, errors.New("ECDSA keygen needs a complete set of Paillier pre-params"))
		}
		end := make(chan *ecdsakeygen.LocalPartySaveData, 1)
		data, err := run(ctx, r, ecdsakeygen.NewLocalParty(params, out, end, *pre), out, end)
		if err != nil {
			return nil, err
		}
		share.ECDSA = data
		share.PublicKey = encodePublicKey(curve, data.ECDSAPub.X(), data.ECDSAPub.Y())
	case CurveEd25519:
		end := make(chan *eddsakeygen.LocalPartySaveData, 1)
		data, err := run(ctx, r, eddsakeygen.NewLocalParty(params, out, end), out, end)
		if err != nil {
			return nil, err
		}
		share.EdDSA = data
		share.PublicKey = encodePublicKey(curve, data.EDDSAPub.X(), data.EDDSAPub.Y())
	default:
		return nil, r.fail(PhaseStart, fmt.Errorf("unknown curve %q", curve))
	}
	if err := share.Validate(); err != nil {
		return nil, r.fail(PhaseDone, fmt.Errorf("keygen produced an unusable share: %w", err))
	}
	return share, nil
}

// runSign builds this signer's signing LocalParty from its keygen share and runs it. The roster
// carries the signers' keygen keys, so BuildLocalSaveDataSubset (inside NewLocalParty) finds them all.
func runSign(ctx context.Context, r *runner, share *Share, message []byte) (*Signature, error) {
	n := len(r.roster.ids)
	params := tss.NewParameters(share.Curve.ec(), tss.NewPeerContext(r.roster.ids), r.roster.selfID(), n, share.Threshold)
	out := outBuffer(n)
	end := make(chan *common.SignatureData, 1)
	m := new(big.Int).SetBytes(message)
	var party tss.Party
	switch share.Curve {
	case CurveSecp256k1:
		// fullBytesLen keeps leading zero bytes of the digest.
		party = ecdsasigning.NewLocalParty(m, params, *share.ECDSA, out, end, len(message))
	case CurveEd25519:
		party = eddsasigning.NewLocalParty(m, params, *share.EdDSA, out, end, len(message))
	default:
		return nil, r.fail(PhaseStart, fmt.Errorf("unknown curve %q", share.Curve))
	}
	data, err := run(ctx, r, party, out, end)
	if err != nil {
		return nil, err
	}
	sig := &Signature{
		Curve:     share.Curve,
		PublicKey: share.PublicKey,
		Message:   append([]byte(nil), message...),
		Signature: data.Signature,
		Signers:   append([]uint16(nil), r.roster.keygen...),
	}
	slices.Sort(sig.Signers)
	if err := Verify(sig); err != nil {
		return nil, r.fail(PhaseDone, err)
	}
	sig.Verified = true
	return sig, nil
}
