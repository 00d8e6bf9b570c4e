package cluster

import (
	"encoding/binary"
	"errors"
	"strconv"
)

// Messages between nodes are binary: a fixed head (type, sender, sender's epoch), then a body
// whose client frames are carried as the bytes the relay wrote or read, never re-encoded.
//
//	head:      type u8 | sender NodeID u32 | epoch u64
//	request:   conn uvarint | groups uvarint | frame          → <prefix>.n.<owner>.q, reply <prefix>.n.<home>.d.<seq>
//	closed:    conn uvarint                                    → <prefix>.n.<owner>.q
//	reset:     epoch of the receiver u64                       → <prefix>.n.<node>.q
//	events:    count uvarint | conn uvarint × count | frame    → <prefix>.n.<node>.d.e
//	missed:    size uvarint | limit uvarint | count uvarint | conn uvarint × count → <prefix>.n.<node>.d.e
//	done:      flags u8 | holds uvarint | response frame        → the request's reply subject
//	response:  frame                                           → the request's reply subject
//	closing response: frame (a §2.5 close-connection error)     → the request's reply subject
//	heartbeat: period in ms uvarint | protocol uvarint         → <prefix>.hb (no body: goodbye)
type msgType uint8

// Protocol versions of the cluster, carried in heartbeats (a heartbeat without one is of
// version 1). Nodes of different versions work together, but an older node ignores the
// messages it does not know: mixed versions are logged (onHeartbeatMsg), and the README says
// what each difference costs.
const (
	// protoV1: request, closed, reset, events, done, response, heartbeat.
	protoV1 = 1
	// protoV2 adds missed (a frame over max_payload: its receivers are closed, 4003) and the
	// closing response (§2.5 sent ahead of its done). A version-1 node ignores both: its
	// receivers of such a frame stay open without it, and a close-connection error whose done
	// comes late does not close the connection there.
	protoV2 = 2
	// protocol is this node's version.
	protocol = protoV2
)

const (
	msgRequest msgType = iota + 1
	msgClosed
	msgReset
	msgEvents
	msgDone
	msgResponse
	msgHeartbeat
	msgMissed // a frame for these connections was larger than NATS carries (Node.Deliver)
	// msgResponseClose is a response that is a §2.5 close-connection error: a type of its own,
	// so that the response message stays as nodes of earlier versions read it.
	msgResponseClose
)

// Flags of a done message.
const (
	doneCloseConn   = 1 << iota // §2.5: the owner answered close-connection
	doneHasResponse             // the response frame follows (merged into done)
	doneRespLost                // the response was larger than NATS's max_payload: not sent
)

const headLen = 1 + 4 + 8

type head struct {
	typ   msgType
	from  NodeID
	epoch uint64
}

var errShort = errors.New("cluster message too short")

func appendHead(b []byte, typ msgType, from NodeID, epoch uint64) []byte {
	b = append(b, byte(typ))
	b = binary.BigEndian.AppendUint32(b, uint32(from))
	return binary.BigEndian.AppendUint64(b, epoch)
}

func readHead(b []byte) (head, []byte, error) {
	if len(b) < headLen {
		return head{}, nil, errShort
	}
	return head{typ: msgType(b[0]), from: NodeID(binary.BigEndian.Uint32(b[1:5])), epoch: binary.BigEndian.Uint64(b[5:13])}, b[headLen:], nil
}

func readUvarint(b []byte) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, errShort
	}
	return v, b[n:], nil
}

// appendEvents writes the body of an events message: the receivers, then the frame.
func appendEvents(b []byte, conns []uint64, frame []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(conns)))
	for _, c := range conns {
		b = binary.AppendUvarint(b, c)
	}
	return append(b, frame...)
}

// eventsSize is the size of an events message for conns and a frame of frameLen bytes.
func eventsSize(conns []uint64, frameLen int) int {
	size := headLen + uvarintLen(uint64(len(conns))) + frameLen
	for _, c := range conns {
		size += uvarintLen(c)
	}
	return size
}

func uvarintLen(v uint64) int {
	n := 1
	for ; v >= 0x80; v >>= 7 {
		n++
	}
	return n
}

func readEvents(b []byte) (conns []uint64, frame []byte, err error) {
	n, b, err := readUvarint(b)
	if err != nil || n > uint64(len(b)) {
		return nil, nil, errShort
	}
	conns = make([]uint64, n)
	for i := range conns {
		if conns[i], b, err = readUvarint(b); err != nil {
			return nil, nil, err
		}
	}
	return conns, b, nil
}

// Subjects. Every node listens on two subjects of its own and on the heartbeats.
type subjects struct{ prefix string }

func (s subjects) requests(n NodeID) string   { return s.prefix + ".n." + n.String() + ".q" }
func (s subjects) deliveries(n NodeID) string { return s.prefix + ".n." + n.String() + ".d.>" }
func (s subjects) events(n NodeID) string     { return s.prefix + ".n." + n.String() + ".d.e" }
func (s subjects) heartbeats() string         { return s.prefix + ".hb" }

func (s subjects) reply(n NodeID, seq uint64) string {
	return s.prefix + ".n." + n.String() + ".d." + strconv.FormatUint(seq, 10)
}

// replySeq reads the sequence number at the end of a reply subject (false: not a reply).
func replySeq(subject string) (uint64, bool) {
	i := len(subject)
	for i > 0 && subject[i-1] != '.' {
		i--
	}
	seq, err := strconv.ParseUint(subject[i:], 10, 64)
	return seq, err == nil
}

func appendUvarint(b []byte, v uint64) []byte { return binary.AppendUvarint(b, v) }
