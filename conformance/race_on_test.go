//go:build race

package conformance

// raceSlowdown stretches response timeouts under the race detector, which slows JSON handling
// of big frames several times over on a loaded 2-core machine. Timeouts only cost time when a
// relay misbehaves, so passing runs are not slower.
const raceSlowdown = 4
