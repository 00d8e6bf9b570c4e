package simparty

import (
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/btcsuite/btcd/btcec/v2"
	btcecdsa "github.com/btcsuite/btcd/btcec/v2/ecdsa"
)

// Signature is the result of one signing session.
type Signature struct {
	Curve     Curve
	PublicKey []byte   // the group key, encoded as in Share.PublicKey
	Message   []byte   // exactly what was signed: the 32-byte digest (secp256k1) or the message (ed25519)
	Signature []byte   // 64 bytes: r||s big-endian (secp256k1, low s) or RFC 8032 R||S (ed25519)
	Signers   []uint16 // the signers' keygen party numbers, ascending
	Verified  bool     // Verify passed; Sign never returns an unverified signature
	// ObserverNotified: SignConfig.Observer was set and that non-signing member received this
	// signature, unchanged, through notifySigned (§4.10).
	ObserverNotified bool
}

// Verify checks sig against its public key and message: ECDSA over the digest against the group
// key, EdDSA with crypto/ed25519 over the exact message bytes (leading zeros included).
func Verify(sig *Signature) error {
	if len(sig.Signature) != 64 {
		return fmt.Errorf("signature is %d bytes, want 64", len(sig.Signature))
	}
	switch sig.Curve {
	case CurveSecp256k1:
		if len(sig.Message) != 32 {
			return fmt.Errorf("secp256k1 signs a 32-byte digest, the message is %d bytes", len(sig.Message))
		}
		pk, err := btcec.ParsePubKey(sig.PublicKey)
		if err != nil {
			return fmt.Errorf("secp256k1 public key: %w", err)
		}
		var r, s btcec.ModNScalar
		if r.SetByteSlice(sig.Signature[:32]) || s.SetByteSlice(sig.Signature[32:]) || r.IsZero() || s.IsZero() {
			return errors.New("ECDSA signature: r or s out of range")
		}
		if !btcecdsa.NewSignature(&r, &s).Verify(sig.Message, pk) {
			return errors.New("ECDSA signature does not verify against the group public key")
		}
	case CurveEd25519:
		if len(sig.PublicKey) != ed25519.PublicKeySize {
			return fmt.Errorf("ed25519 public key is %d bytes, want 32", len(sig.PublicKey))
		}
		if !ed25519.Verify(sig.PublicKey, sig.Message, sig.Signature) {
			return errors.New("EdDSA signature does not verify (crypto/ed25519) against the group public key")
		}
	default:
		return fmt.Errorf("unknown curve %q", sig.Curve)
	}
	return nil
}

// SignatureJSON is the JSON form of a Signature: the last line of `mpcrelay sign --json` and the
// value of Notify.signed (§4.10).
type SignatureJSON struct {
	Curve     Curve    `json:"curve"`
	PublicKey string   `json:"public_key"`
	Message   string   `json:"message"`
	Signature string   `json:"signature"`
	Signers   []uint16 `json:"signers"`
	Verified  bool     `json:"verified"`
}

// JSON returns the hex form of sig.
func (sig *Signature) JSON() SignatureJSON {
	return SignatureJSON{
		Curve:     sig.Curve,
		PublicKey: hex.EncodeToString(sig.PublicKey),
		Message:   hex.EncodeToString(sig.Message),
		Signature: hex.EncodeToString(sig.Signature),
		Signers:   sig.Signers,
		Verified:  sig.Verified,
	}
}

func (sig *Signature) MarshalJSON() ([]byte, error) { return json.Marshal(sig.JSON()) }
