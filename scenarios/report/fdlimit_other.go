//go:build !unix

package report

func fdLimit() uint64 { return 0 }
