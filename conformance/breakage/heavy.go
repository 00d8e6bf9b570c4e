package breakage

import (
	"bytes"
	"encoding/json"
	"time"

	"github.com/google/uuid"

	"mpcrelay/faultproxy"
	"mpcrelay/relay/protocol"
)

// Cases of the heavy breakages: only a volume run or real tss-lib parties reveal them.
const (
	streamCase  = "1.3/stream-order-under-volume"
	eddsaCase   = "7/eddsa-keygen-and-sign"
	ecdsaCase   = "7/ecdsa-keygen-and-sign"
	mibCase     = "4.7/body-intact-1mib"
	garbageCase = "6.2/garbage-does-not-disturb-others"
	stalledCase = "6.2/stalled-reader-does-not-block-others"
	groupsCase  = "6.2/many-concurrent-groups"
)

// stallFor is how long the stalling breakages hold every frame: longer than any case waits (a
// held frame stops waiting once its connection closes, so the case's end releases it).
const stallFor = time.Minute

var heavyBreakages = []Breakage{
	{Name: "stream-swap-now-and-then", Description: "§1.3 every 97th sessionMessage to a connection written after the one that follows it", Rule: "1.3.stream-order",
		Cases: []string{streamCase}, Rules: everyNthMessage(97, false, func(f *faultproxy.Frame) { f.Hold(200 * time.Millisecond) })},
	{Name: "stream-drops-one-broadcast", Description: "§4.7 the 150th broadcast delivered to each connection dropped", Rule: "4.7.broadcast-to-other-parties",
		Cases: []string{streamCase}, Rules: everyNthMessage(150, true, (*faultproxy.Frame).Drop)},
	{Name: "stream-alters-one-body", Description: "§4.7 the body of the 120th sessionMessage to each connection altered", Rule: "4.7.body-equal-json",
		Cases: []string{streamCase}, Rules: everyNthMessage(120, false, alterBody)},
	{Name: "frames-over-512kib-refused", Description: "§4.7 frames over 512 KiB refused (connection closed with 1009): a frame limit below 1 MiB", Rule: "4.7.frame-limit-1mib",
		Cases: []string{mibCase}, Rules: only(faultproxy.Rule{Name: "limit", Dir: faultproxy.ToRelay,
			Match: func(f *faultproxy.Frame) bool { return len(f.Data) > 512<<10 }, Apply: func(f *faultproxy.Frame) { f.Close(1009, "message too big") }})},
	{Name: "body-plus-as-space", Description: `§4.7 "+" in message bodies turned into " " (a form-decoding relay): real tss-lib bodies carry base64`, Rule: "4.7.body-equal-json",
		Cases: []string{eddsaCase, ecdsaCase}, Rules: only(faultproxy.Rule{Name: "plus", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
			var m protocol.Message
			if json.Unmarshal(f.RPC.Payload, &m) != nil {
				return
			}
			if body := bytes.ReplaceAll(m.Body, []byte("+"), []byte(" ")); json.Valid(body) {
				m.Body = body
				f.Replace(event(protocol.EventSessionMessage, m))
			}
		}})},
	{Name: "broadcast-deduplicated-by-round", Description: "§4.7 a broadcast dropped when its receiver already got a message of that round from that sender (taken for a retransmission)", Rule: "4.7.broadcast-to-other-parties",
		Cases: []string{eddsaCase, ecdsaCase, streamCase}, Rules: broadcastDeduplicated},
	{Name: "messages-cross-groups-under-load", Description: "§3.6 every 25th sessionMessage goes to the receiver of the message before it, whatever its group (a shared \"last receiver\": a race)", Rule: "3.6.groups-independent",
		Cases: []string{groupsCase}, Rules: messagesCrossGroups},
	{Name: "huge-frame-stalls-relay", Description: "§6.2 a frame over 8 MiB stalls the relay: every connection waits a minute", Rule: "6.2.misbehaving-sender",
		Cases: []string{garbageCase}, Rules: stallWhen(func(f *faultproxy.Frame) bool { return f.Dir == faultproxy.ToRelay && len(f.Data) > 8<<20 })},
	{Name: "stalled-reader-blocks-relay", Description: "§6.2 a party that was sent 4 MiB of messages while it sent nothing stalls the relay: every connection waits a minute", Rule: "6.2.stalled-reader",
		Cases: []string{stalledCase}, Rules: stalledReaderStalls},
}

// everyNthMessage applies act to the n-th, 2n-th, ... sessionMessage event written to each
// connection (broadcasts only, if broadcasts).
func everyNthMessage(n int, broadcasts bool, act func(*faultproxy.Frame)) func() []faultproxy.Rule {
	return func() []faultproxy.Rule {
		count := map[*faultproxy.Conn]int{}
		return []faultproxy.Rule{{Name: "nth", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
			if broadcasts {
				var m protocol.Message
				if json.Unmarshal(f.RPC.Payload, &m) != nil || !m.Broadcast() {
					return
				}
			}
			count[f.Conn]++
			if count[f.Conn]%n == 0 {
				act(f)
			}
		}}}
	}
}

func messagesCrossGroups() []faultproxy.Rule {
	var last *faultproxy.Conn
	n := 0
	return []faultproxy.Rule{{Name: "cross", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
		n++
		if n%25 == 0 && last != nil && last != f.Conn {
			f.Drop()
			f.Inject(last, faultproxy.ToClient, f.Data)
		}
		last = f.Conn
	}}}
}

func broadcastDeduplicated() []faultproxy.Rule {
	type key struct {
		conn    *faultproxy.Conn
		session uuid.UUID
		round   uint16
		sender  uint16
	}
	seen := map[key]bool{}
	return []faultproxy.Rule{{Name: "dedup", Dir: faultproxy.ToClient, Match: faultproxy.Event(protocol.EventSessionMessage), Apply: func(f *faultproxy.Frame) {
		var m protocol.Message
		if json.Unmarshal(f.RPC.Payload, &m) != nil {
			return
		}
		k := key{f.Conn, m.UUID, m.Round, m.Sender}
		if seen[k] && m.Broadcast() {
			f.Drop()
		}
		seen[k] = true
	}}}
}

// stallWhen delays every frame to every client for stallFor once trigger holds for a frame.
func stallWhen(trigger func(f *faultproxy.Frame) bool) func() []faultproxy.Rule {
	return func() []faultproxy.Rule {
		var until time.Time
		return []faultproxy.Rule{{Name: "stall", Apply: func(f *faultproxy.Frame) {
			if until.IsZero() && trigger(f) {
				until = time.Now().Add(stallFor)
			}
			if f.Dir == faultproxy.ToClient && time.Now().Before(until) {
				f.Delay(time.Until(until))
			}
		}}}
	}
}

// stalledReaderStalls stalls the relay once a party has been sent 4 MiB of messages since it
// last sent anything — counted as the messages arrive from their senders, so the stall starts
// while the flood is still coming in.
func stalledReaderStalls() []faultproxy.Rule {
	tr := faultproxy.NewTracker()
	unread := map[*faultproxy.Conn]int{}
	return append([]faultproxy.Rule{tr.Rule(), {Name: "count", Dir: faultproxy.ToRelay, Apply: func(f *faultproxy.Frame) {
		unread[f.Conn] = 0
		var p protocol.SessionMessageParams
		if !f.RPC.IsRequest(protocol.MethodSessionMessage) || json.Unmarshal(f.RPC.Params, &p) != nil {
			return
		}
		if s := tr.Session(p.SessionID); s != nil {
			for n, c := range s.Parties {
				if c != f.Conn && (p.Message.Broadcast() || n == *p.Message.Receiver) {
					unread[c] += len(f.Data)
				}
			}
		}
	}}}, stallWhen(func(f *faultproxy.Frame) bool {
		for _, n := range unread {
			if n > 4<<20 {
				return true
			}
		}
		return false
	})()...)
}
