package preparams

import (
	"testing"
)

func TestEmbeddedPoolIsValidAndDistinct(t *testing.T) {
	pool, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if len(pool) < 5 {
		t.Fatalf("pool has %d sets; the tests' largest ECDSA keygen needs 5", len(pool))
	}
	seen := map[string]int{}
	for i, p := range pool {
		key := p.NTildei.String()
		if j, dup := seen[key]; dup {
			t.Fatalf("sets %d and %d share NTilde: a keygen drawing both would reuse safe primes", j, i)
		}
		seen[key] = i
	}
}

func TestPickGivesDistinctSetsAndRefusesTooMany(t *testing.T) {
	pool, err := Embedded()
	if err != nil {
		t.Fatal(err)
	}
	sets, err := Pick(pool, 3, len(pool)-1) // wraps around the end of the pool
	if err != nil {
		t.Fatal(err)
	}
	if sets[0].NTildei.Cmp(sets[1].NTildei) == 0 || sets[1].NTildei.Cmp(sets[2].NTildei) == 0 {
		t.Fatal("Pick returned the same set twice within one keygen")
	}
	if _, err := Pick(pool, len(pool)+1, 0); err == nil {
		t.Fatal("Pick accepted more parties than the pool has sets")
	}
}

func TestLoadRejectsAnEmptyDirectory(t *testing.T) {
	if _, err := Load(t.TempDir()); err == nil {
		t.Fatal("Load of an empty directory succeeded")
	}
}
