package simparty

import (
	"fmt"
	"math/big"
	"sort"
	"strconv"
	"strings"

	"github.com/bnb-chain/tss-lib/v2/tss"
)

// roster maps the parties of one tss-lib run to their numbers in the relay session. Every party
// builds its own roster from public data, so all of them derive the same sorted PartyIDs.
type roster struct {
	ids     tss.SortedPartyIDs // ids[i].Index == i
	numbers []uint16           // ids[i]'s party number in this session (what Session.message routes on)
	keygen  []uint16           // ids[i]'s party number at keygen (equal to numbers except in signup-mode signing)
	self    int                // this party's index in ids
}

func newPartyID(keygenNumber uint16, key *big.Int) *tss.PartyID {
	n := strconv.Itoa(int(keygenNumber))
	return tss.NewPartyID(n, "party "+n, key)
}

// keygenRoster: party number k ↔ PartyID key k, so the k-th of the sorted PartyIDs is party k and
// the share's ShareID (its Shamir evaluation point) is its party number.
func keygenRoster(n int, self uint16) *roster {
	ids := make(tss.UnSortedPartyIDs, n)
	r := &roster{numbers: make([]uint16, n), keygen: make([]uint16, n), self: int(self) - 1}
	for i := range ids {
		ids[i] = newPartyID(uint16(i+1), big.NewInt(int64(i+1)))
		r.numbers[i], r.keygen[i] = uint16(i+1), uint16(i+1)
	}
	r.ids = tss.SortPartyIDs(ids)
	return r
}

// signRoster builds the signers' PartyIDs from the keygen keys (share.Ks, in keygen party-number
// order) so they carry the keys they had at keygen. session maps each signer's keygen number to its
// number in the signing session.
func signRoster(keys []*big.Int, session map[uint16]uint16, selfKeygen uint16) (*roster, error) {
	ids := make(tss.UnSortedPartyIDs, 0, len(session))
	for k := range session {
		if k < 1 || int(k) > len(keys) {
			return nil, fmt.Errorf("signer %d is not a keygen party (1..%d)", k, len(keys))
		}
		ids = append(ids, newPartyID(k, keys[k-1]))
	}
	r := &roster{ids: tss.SortPartyIDs(ids), self: -1}
	for i, id := range r.ids {
		k, _ := strconv.Atoi(id.Id)
		r.keygen = append(r.keygen, uint16(k))
		r.numbers = append(r.numbers, session[uint16(k)])
		if uint16(k) == selfKeygen {
			r.self = i
		}
	}
	if r.self < 0 {
		return nil, fmt.Errorf("keygen party %d is not among the signers %v", selfKeygen, r.keygen)
	}
	return r, nil
}

func (r *roster) selfID() *tss.PartyID { return r.ids[r.self] }
func (r *roster) selfNumber() uint16   { return r.numbers[r.self] }

func (r *roster) indexOf(number uint16) (int, bool) {
	for i, n := range r.numbers {
		if n == number {
			return i, true
		}
	}
	return -1, false
}

// describe names parties by session number, adding the keygen number where it differs.
func (r *roster) describe(ids []*tss.PartyID) []string {
	var out []string
	for _, id := range ids {
		if id == nil || id.Index < 0 || id.Index >= len(r.ids) {
			continue
		}
		s := strconv.Itoa(int(r.numbers[id.Index]))
		if r.keygen[id.Index] != r.numbers[id.Index] {
			s += fmt.Sprintf(" (keygen party %d)", r.keygen[id.Index])
		}
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

func (r *roster) numbersOf(ids []*tss.PartyID) []uint16 {
	var out []uint16
	for _, id := range ids {
		if id != nil && id.Index >= 0 && id.Index < len(r.ids) {
			out = append(out, r.numbers[id.Index])
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out
}

func joinNumbers(ns []uint16) string {
	s := make([]string, len(ns))
	for i, n := range ns {
		s[i] = strconv.Itoa(int(n))
	}
	return strings.Join(s, ", ")
}
