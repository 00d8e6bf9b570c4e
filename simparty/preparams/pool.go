// Package preparams keeps the pool of Paillier pre-parameters that ECDSA keygen needs.
//
// Safe primes take seconds to minutes each, so a pool is generated once (mpcrelay preparams)
// and committed; tests and the default commands take sets from it. Pooled sets are public test
// data: keys made with them must never hold value.
package preparams

import (
	"context"
	"embed"
	"encoding/json"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/bnb-chain/tss-lib/v2/ecdsa/keygen"
)

//go:embed pool
var embedded embed.FS

// Embedded returns the committed pool, in file-name order.
func Embedded() ([]keygen.LocalPreParams, error) {
	sub, err := fs.Sub(embedded, "pool")
	if err != nil {
		return nil, err
	}
	return load(sub)
}

// Load reads every *.json pre-parameter set in dir, in file-name order.
func Load(dir string) ([]keygen.LocalPreParams, error) {
	return load(os.DirFS(dir))
}

func load(fsys fs.FS) ([]keygen.LocalPreParams, error) {
	names, err := fs.Glob(fsys, "*.json")
	if err != nil {
		return nil, err
	}
	sort.Strings(names)
	sets := make([]keygen.LocalPreParams, 0, len(names))
	for _, name := range names {
		raw, err := fs.ReadFile(fsys, name)
		if err != nil {
			return nil, err
		}
		var p keygen.LocalPreParams
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, fmt.Errorf("pre-params %s: %w", name, err)
		}
		if !p.ValidateWithProof() {
			return nil, fmt.Errorf("pre-params %s: incomplete or invalid set", name)
		}
		sets = append(sets, p)
	}
	if len(sets) == 0 {
		return nil, fmt.Errorf("no pre-params (*.json) found")
	}
	return sets, nil
}

// Pick returns n distinct sets for the n parties of one keygen, starting at offset so that
// concurrent keygens can spread over the pool. Sets repeat across keygens, never within one.
func Pick(pool []keygen.LocalPreParams, n, offset int) ([]keygen.LocalPreParams, error) {
	if n > len(pool) {
		return nil, fmt.Errorf("ECDSA keygen of %d parties needs %d distinct pre-param sets, the pool has %d (generate more with: mpcrelay preparams --count %d --out DIR)", n, n, len(pool), n)
	}
	out := make([]keygen.LocalPreParams, n)
	for i := range out {
		out[i] = pool[(offset+i)%len(pool)]
	}
	return out, nil
}

// Generate makes one fresh set; it takes as long as finding two safe primes takes.
func Generate(ctx context.Context) (*keygen.LocalPreParams, error) {
	return keygen.GeneratePreParamsWithContext(ctx)
}

// Write stores one set as dir/NN.json, numbered after the sets already there.
func Write(dir string, p *keygen.LocalPreParams) (string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return "", err
	}
	next := 1
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".json") {
			next++
		}
	}
	raw, err := json.Marshal(p)
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, fmt.Sprintf("%02d.json", next))
	return path, os.WriteFile(path, raw, 0o644)
}
