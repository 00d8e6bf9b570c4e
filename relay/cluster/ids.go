package cluster

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"

	"github.com/google/uuid"
)

// NodeID names one relay node of a cluster for as long as its process runs. The node writes it
// into the first four bytes of the uuid of every group it creates, so any node finds a group's
// owner from the uuid alone, with no lookup and no shared table (0 is never a node).
type NodeID uint32

func (n NodeID) String() string { return fmt.Sprintf("%08x", uint32(n)) }

// newNodeID draws a random non-zero node id. Two nodes of one cluster draw the same id with
// probability about k²/2³³ for k nodes (1e-9 for three).
func newNodeID() NodeID {
	var b [4]byte
	for {
		_, _ = rand.Read(b[:]) // crypto/rand never fails on supported platforms
		if id := NodeID(binary.BigEndian.Uint32(b[:])); id != 0 {
			return id
		}
	}
}

// NewGroupID returns a fresh random (version 4) uuid whose first four bytes are owner. The
// other 90 random bits keep group uuids unguessable (§3.6: every uuid is fresh).
func NewGroupID(owner NodeID) uuid.UUID {
	id := uuid.New()
	binary.BigEndian.PutUint32(id[:4], uint32(owner))
	return id
}

// OwnerOf is the node that created group id (0 for the nil uuid).
func OwnerOf(id uuid.UUID) NodeID { return NodeID(binary.BigEndian.Uint32(id[:4])) }
