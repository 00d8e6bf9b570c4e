package relay

import (
	"testing"

	"mpcrelay/relay/cluster"
)

// In cluster mode every group of a node has the node's id in the first four bytes of its uuid
// (cluster.NewGroupID): the table must still spread that node's groups over its shards.
func TestGroupTableSpreadsOneNodesGroups(t *testing.T) {
	var tab groupTable
	for range 1000 {
		tab.add(&group{id: cluster.NewGroupID(0x0a0b0c0d)})
	}
	used := 0
	for i := range tab.shards {
		if len(tab.shards[i].m) > 0 {
			used++
		}
	}
	if used < tableShards/2 {
		t.Fatalf("Expected: 1,000 groups of one node over at least %d of %d shards / Actual: %d", tableShards/2, tableShards, used)
	}
}
