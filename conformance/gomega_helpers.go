package conformance

import (
	"github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
)

// beTrueMsg is BeTrue whose failure names what was awaited.
func beTrueMsg(what string) types.GomegaMatcher { return gomega.BeTrueBecause("%s", what) }
