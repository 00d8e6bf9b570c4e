//go:build !race

package replay

func ioRelease() {}
func ioAcquire() {}
