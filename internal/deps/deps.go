// Package deps pins the project's libraries in go.mod while the packages that use them are
// being written. It is removed once every one is imported for real.
package deps

import (
	_ "github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
	_ "github.com/bnb-chain/tss-lib/v2/ecdsa/signing"
	_ "github.com/bnb-chain/tss-lib/v2/eddsa/keygen"
	_ "github.com/bnb-chain/tss-lib/v2/eddsa/signing"
	_ "github.com/bnb-chain/tss-lib/v2/tss"
	_ "github.com/btcsuite/btcd/btcec/v2"
	_ "github.com/btcsuite/btcd/btcec/v2/ecdsa"
	_ "github.com/google/uuid"
	_ "github.com/gorilla/websocket"
	_ "github.com/onsi/ginkgo/v2"
	_ "github.com/onsi/ginkgo/v2/reporters"
	_ "github.com/onsi/ginkgo/v2/types"
	_ "github.com/onsi/gomega"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "github.com/prometheus/client_golang/prometheus/promhttp"
	_ "github.com/prometheus/client_golang/prometheus/testutil"
	_ "github.com/schollz/progressbar/v3"
	_ "github.com/spf13/cobra"
	_ "golang.org/x/crypto/sha3"
	_ "sigs.k8s.io/yaml"
)
