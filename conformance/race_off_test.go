//go:build !race

package conformance

const raceSlowdown = 1
