package simparty

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"sort"

	ecdsakeygen "github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	eddsakeygen "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
)

// Share is one party's key share: what keygen produced for it and signing needs. Its JSON form is
// the key-share file (one per party, named party-N.json).
type Share struct {
	Curve       Curve
	PartyNumber uint16 // fixed by the relay at keygen; the PartyNumber-th of the sorted tss-lib PartyIDs
	Threshold   int    // t: any t+1 shares sign
	Parties     int    // n
	PublicKey   []byte // SEC1 compressed (secp256k1) or RFC 8032 (ed25519)

	// Exactly one of these holds tss-lib's save data, by Curve.
	ECDSA *ecdsakeygen.LocalPartySaveData
	EdDSA *eddsakeygen.LocalPartySaveData
}

type shareFile struct {
	Curve       Curve           `json:"curve"`
	PartyNumber uint16          `json:"party_number"`
	Threshold   int             `json:"threshold"`
	Parties     int             `json:"parties"`
	PublicKey   string          `json:"public_key"`
	SaveData    json.RawMessage `json:"save_data"`
}

func (s *Share) MarshalJSON() ([]byte, error) {
	var data any = s.ECDSA
	if s.Curve == CurveEd25519 {
		data = s.EdDSA
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, fmt.Errorf("encode tss-lib save data: %w", err)
	}
	return json.Marshal(shareFile{s.Curve, s.PartyNumber, s.Threshold, s.Parties, hex.EncodeToString(s.PublicKey), raw})
}

func (s *Share) UnmarshalJSON(b []byte) error {
	var f shareFile
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	pub, err := hex.DecodeString(f.PublicKey)
	if err != nil {
		return fmt.Errorf("public_key: %w", err)
	}
	*s = Share{Curve: f.Curve, PartyNumber: f.PartyNumber, Threshold: f.Threshold, Parties: f.Parties, PublicKey: pub}
	if len(f.SaveData) == 0 || string(f.SaveData) == "null" {
		return errors.New("save_data is missing")
	}
	switch f.Curve {
	case CurveSecp256k1:
		s.ECDSA = new(ecdsakeygen.LocalPartySaveData)
		err = json.Unmarshal(f.SaveData, s.ECDSA)
	case CurveEd25519:
		s.EdDSA = new(eddsakeygen.LocalPartySaveData)
		err = json.Unmarshal(f.SaveData, s.EdDSA)
	default:
		return fmt.Errorf("unknown curve %q", f.Curve)
	}
	if err != nil {
		return fmt.Errorf("save_data: %w", err)
	}
	return nil
}

// Validate checks that the share is whole and consistent with itself, so that tss-lib (which
// panics on some malformed save data) is never handed one that is not.
func (s *Share) Validate() error {
	if err := s.Curve.valid(); err != nil {
		return err
	}
	if s.Parties < 2 || s.Threshold < 1 || s.Threshold >= s.Parties {
		return fmt.Errorf("threshold %d of %d parties: want 0 < t < n, n > 1", s.Threshold, s.Parties)
	}
	if s.PartyNumber < 1 || int(s.PartyNumber) > s.Parties {
		return fmt.Errorf("party number %d is out of range 1..%d", s.PartyNumber, s.Parties)
	}
	var (
		shareID, xi *big.Int
		ks          []*big.Int
		pubX, pubY  *big.Int
		bigXs       int
	)
	switch s.Curve {
	case CurveSecp256k1:
		d := s.ECDSA
		if d == nil || s.EdDSA != nil {
			return errors.New("secp256k1 share must hold ECDSA save data only")
		}
		if !d.LocalPreParams.ValidateWithProof() {
			return errors.New("ECDSA save data lacks its Paillier pre-params")
		}
		if len(d.NTildej) != s.Parties || len(d.H1j) != s.Parties || len(d.H2j) != s.Parties || len(d.PaillierPKs) != s.Parties {
			return fmt.Errorf("ECDSA save data does not hold the public data of %d parties", s.Parties)
		}
		if d.ECDSAPub == nil {
			return errors.New("ECDSA save data lacks the public key")
		}
		shareID, xi, ks, bigXs = d.ShareID, d.Xi, d.Ks, len(d.BigXj)
		pubX, pubY = d.ECDSAPub.X(), d.ECDSAPub.Y()
	case CurveEd25519:
		d := s.EdDSA
		if d == nil || s.ECDSA != nil {
			return errors.New("ed25519 share must hold EdDSA save data only")
		}
		if d.EDDSAPub == nil {
			return errors.New("EdDSA save data lacks the public key")
		}
		shareID, xi, ks, bigXs = d.ShareID, d.Xi, d.Ks, len(d.BigXj)
		pubX, pubY = d.EDDSAPub.X(), d.EDDSAPub.Y()
	}
	if xi == nil || shareID == nil {
		return errors.New("save data lacks the secret share")
	}
	if len(ks) != s.Parties || bigXs != s.Parties {
		return fmt.Errorf("save data holds %d party keys, want %d", len(ks), s.Parties)
	}
	for i, k := range ks {
		if k == nil || k.Sign() <= 0 {
			return fmt.Errorf("save data: party key %d is missing", i+1)
		}
	}
	if ks[s.PartyNumber-1].Cmp(shareID) != 0 {
		return fmt.Errorf("save data belongs to another party than number %d", s.PartyNumber)
	}
	if want := encodePublicKey(s.Curve, pubX, pubY); !bytes.Equal(want, s.PublicKey) {
		return fmt.Errorf("public_key %x does not match the save data's key %x", s.PublicKey, want)
	}
	return nil
}

// keys returns the tss-lib PartyID keys of every keygen party, in party-number order.
func (s *Share) keys() []*big.Int {
	if s.Curve == CurveEd25519 {
		return s.EdDSA.Ks
	}
	return s.ECDSA.Ks
}

// checkSameKey reports the first share that belongs to another key than the first one's.
func checkSameKey(shares []*Share) error {
	seen := map[uint16]bool{}
	for i, s := range shares {
		if err := s.Validate(); err != nil {
			return fmt.Errorf("share of party %d: %w", s.PartyNumber, err)
		}
		if seen[s.PartyNumber] {
			return fmt.Errorf("two shares of party %d", s.PartyNumber)
		}
		seen[s.PartyNumber] = true
		f := shares[0]
		if i > 0 && (s.Curve != f.Curve || s.Threshold != f.Threshold || s.Parties != f.Parties || !bytes.Equal(s.PublicKey, f.PublicKey)) {
			return fmt.Errorf("shares disagree: party %d holds a %d-of-%d %s share of key %x, party %d of a %d-of-%d %s key %x",
				f.PartyNumber, f.Threshold+1, f.Parties, f.Curve, f.PublicKey, s.PartyNumber, s.Threshold+1, s.Parties, s.Curve, s.PublicKey)
		}
	}
	return nil
}

func shareFileName(n uint16) string { return fmt.Sprintf("party-%d.json", n) }

// WriteShares writes one key-share file per share into dir (created if needed, files 0600: they
// hold secrets, even if only test ones).
func WriteShares(dir string, shares []*Share) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	for _, s := range shares {
		raw, err := json.MarshalIndent(s, "", "  ")
		if err != nil {
			return fmt.Errorf("share of party %d: %w", s.PartyNumber, err)
		}
		if err := os.WriteFile(filepath.Join(dir, shareFileName(s.PartyNumber)), raw, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// LoadShares reads every party-N.json in dir, validates each and checks that they are shares of one
// key. The result is ordered by party number.
func LoadShares(dir string) ([]*Share, error) {
	names, err := filepath.Glob(filepath.Join(dir, "party-*.json"))
	if err != nil {
		return nil, err
	}
	if len(names) == 0 {
		if _, err := os.Stat(dir); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("no key-share files (party-N.json) in %s", dir)
	}
	shares := make([]*Share, 0, len(names))
	for _, name := range names {
		raw, err := os.ReadFile(name)
		if err != nil {
			return nil, err
		}
		s := new(Share)
		if err := json.Unmarshal(raw, s); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if err := s.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", name, err)
		}
		if filepath.Base(name) != shareFileName(s.PartyNumber) {
			return nil, fmt.Errorf("%s holds the share of party %d", name, s.PartyNumber)
		}
		shares = append(shares, s)
	}
	sort.Slice(shares, func(i, j int) bool { return shares[i].PartyNumber < shares[j].PartyNumber })
	if err := checkSameKey(shares); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return shares, nil
}
