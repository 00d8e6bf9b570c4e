//go:build !race

package explore_test

const raceSlowdown = 1
