package run

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
	"strconv"

	"mpcrelay/client"
	"mpcrelay/simparty"
)

// reason is the failure text without session uuids, so that failures of the same cause group.
func reason(err error) string {
	var f simparty.Failures
	if errors.As(err, &f) && len(f) > 0 {
		stages := map[string]bool{}
		var parts []string
		for _, pe := range f {
			key := fmt.Sprintf("%s %s", pe.Kind, pe.Stage)
			if pe.Stage == simparty.PhaseRound {
				key = fmt.Sprintf("%s round %d", pe.Kind, pe.Round)
			}
			cause := maskReason(pe.Err.Error())
			switch {
			case errors.Is(pe.Err, simparty.ErrDropped):
				cause = "dropped by fault injection"
			case errors.Is(pe.Err, simparty.ErrNoProgress):
				cause = "no progress"
			case errors.Is(pe.Err, context.DeadlineExceeded):
				cause = "timeout"
			case errors.Is(pe.Err, client.ErrClosed):
				cause = "connection closed"
			}
			if k := key + ": " + cause; !stages[k] {
				stages[k] = true
				parts = append(parts, k)
			}
		}
		sort.Strings(parts)
		return fmt.Sprint(parts)
	}
	return maskReason(err.Error())
}

var (
	reAddr   = regexp.MustCompile(`\d+\.\d+\.\d+\.\d+:\d+`)
	reUUID   = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)
	reNumber = regexp.MustCompile(`\d+`)
)

// maskReason drops addresses, uuids and numbers from an error text, so that failures of one
// cause count under one reason.
func maskReason(s string) string {
	s = reNumber.ReplaceAllString(reUUID.ReplaceAllString(reAddr.ReplaceAllString(s, "ADDR"), "UUID"), "N")
	if len(s) > 100 {
		s = s[:100]
	}
	return s
}

// missingParties are the parties a failure names: those the others were still waiting for, and
// those that dropped out themselves. A party that failed only because a peer-to-peer receiver
// had gone (§4.7 "receiver n … does not exist": a relay that frees a closed connection's number,
// §6.1) names that receiver and is not missing itself.
func missingParties(err error) []uint16 {
	var f simparty.Failures
	if !errors.As(err, &f) {
		return nil
	}
	named := map[uint16]bool{}
	victims := map[uint16]bool{}
	for _, pe := range f {
		for _, p := range pe.Waiting {
			named[p] = true
		}
		if errors.Is(pe.Err, simparty.ErrDropped) && pe.Party != 0 {
			named[pe.Party] = true
		}
		if pe.Err == nil || pe.Party == 0 {
			continue
		}
		if m := reGoneReceiver.FindStringSubmatch(pe.Err.Error()); m != nil {
			n, _ := strconv.ParseUint(m[1], 10, 16)
			named[uint16(n)] = true
			victims[pe.Party] = true
		}
	}
	var out []uint16
	for p := range named {
		if !victims[p] {
			out = append(out, p)
		}
	}
	slices.Sort(out)
	return out
}

var reGoneReceiver = regexp.MustCompile(`receiver (\d+) for peer to peer message does not exist`)
