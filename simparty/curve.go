package simparty

import (
	"crypto/elliptic"
	"encoding/hex"
	"fmt"
	"math/big"
	"strings"

	"github.com/bnb-chain/tss-lib/v2/tss"
	"github.com/btcsuite/btcd/btcec/v2"
	"golang.org/x/crypto/sha3"
)

// Curve names the signature scheme a key belongs to.
type Curve string

const (
	CurveSecp256k1 Curve = "secp256k1" // threshold ECDSA (GG18 in tss-lib)
	CurveEd25519   Curve = "ed25519"   // threshold EdDSA
)

// ParseCurve reads a curve name; "ecdsa" and "eddsa" are accepted as aliases.
func ParseCurve(s string) (Curve, error) {
	switch strings.ToLower(strings.TrimSpace(s)) {
	case "secp256k1", "ecdsa":
		return CurveSecp256k1, nil
	case "ed25519", "eddsa":
		return CurveEd25519, nil
	}
	return "", fmt.Errorf("unknown curve %q (want secp256k1 or ed25519)", s)
}

func (c Curve) valid() error {
	_, err := ParseCurve(string(c))
	if err != nil || Curve(strings.ToLower(string(c))) != c {
		return fmt.Errorf("unknown curve %q (want secp256k1 or ed25519)", string(c))
	}
	return nil
}

func (c Curve) ec() elliptic.Curve {
	if c == CurveEd25519 {
		return tss.Edwards()
	}
	return tss.S256()
}

// encodePublicKey gives the usual encoding of a group public key: SEC1 compressed (33 bytes) for
// secp256k1, RFC 8032 (32 bytes: y little-endian, sign of x in the top bit) for ed25519.
func encodePublicKey(c Curve, x, y *big.Int) []byte {
	if c == CurveEd25519 {
		var b [32]byte
		y.FillBytes(b[:])
		for i, j := 0, 31; i < j; i, j = i+1, j-1 {
			b[i], b[j] = b[j], b[i]
		}
		b[31] |= byte(x.Bit(0)) << 7
		return b[:]
	}
	b := make([]byte, 33)
	b[0] = 0x02 | byte(y.Bit(0))
	x.FillBytes(b[1:])
	return b
}

// EthereumAddress is the checksum-free 0x address of a secp256k1 public key (SEC1, compressed or
// not): the last 20 bytes of keccak-256 over the uncompressed X||Y.
func EthereumAddress(publicKey []byte) (string, error) {
	pk, err := btcec.ParsePubKey(publicKey)
	if err != nil {
		return "", fmt.Errorf("secp256k1 public key: %w", err)
	}
	h := sha3.NewLegacyKeccak256()
	h.Write(pk.SerializeUncompressed()[1:])
	return "0x" + hex.EncodeToString(h.Sum(nil)[12:]), nil
}
