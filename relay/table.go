package relay

import (
	"sync"

	"github.com/google/uuid"
)

// tableShards splits the group table so that requests on different groups do not meet on one
// lock: each shard's lock is held only for a map lookup, insert or delete, never while a
// request runs. A group uuid's last byte is random (v4, and in cluster mode, where the first
// four bytes name the owner node and are the same for all of a node's groups), so it spreads
// groups evenly.
const tableShards = 64

// groupTable maps group uuids to groups.
type groupTable struct {
	shards [tableShards]tableShard
}

type tableShard struct {
	mu sync.RWMutex
	m  map[uuid.UUID]*group
	_  [32]byte // to 64 bytes, a cache line: cores working on different shards do not meet
}

func (t *groupTable) shard(id uuid.UUID) *tableShard { return &t.shards[id[15]%tableShards] }

// get returns the group with that id, or nil. The group may be gone by the time the caller
// locks it (lockGroup checks).
func (t *groupTable) get(id uuid.UUID) *group {
	sh := t.shard(id)
	sh.mu.RLock()
	g := sh.m[id]
	sh.mu.RUnlock()
	return g
}

func (t *groupTable) add(g *group) {
	sh := t.shard(g.id)
	sh.mu.Lock()
	if sh.m == nil {
		sh.m = make(map[uuid.UUID]*group)
	}
	sh.m[g.id] = g
	sh.mu.Unlock()
}

func (t *groupTable) remove(g *group) {
	sh := t.shard(g.id)
	sh.mu.Lock()
	if sh.m[g.id] == g {
		delete(sh.m, g.id)
	}
	sh.mu.Unlock()
}

// all lists every group in the table (for idle expiry), shard by shard.
func (t *groupTable) all() []*group {
	var out []*group
	for i := range t.shards {
		sh := &t.shards[i]
		sh.mu.RLock()
		for _, g := range sh.m {
			out = append(out, g)
		}
		sh.mu.RUnlock()
	}
	return out
}
