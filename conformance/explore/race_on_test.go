//go:build race

package explore_test

// raceSlowdown stretches waits under the race detector (a loaded 2-core machine, JSON of big
// frames several times slower); waits only cost time when a relay misbehaves.
const raceSlowdown = 4
