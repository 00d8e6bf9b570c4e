package conformance

import (
	"github.com/onsi/gomega"
	"github.com/onsi/gomega/types"
)

// BeTrueMsg is BeTrue whose failure names what was awaited.
func BeTrueMsg(what string) types.GomegaMatcher { return gomega.BeTrueBecause("%s", what) }

func matchJSON(v any) types.GomegaMatcher { return gomega.MatchJSON(v) }
