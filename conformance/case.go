package conformance

import (
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/onsi/ginkgo/v2/types"
)

// Level is how binding a case's requirement is (PROTOCOL.md, "Words").
type Level int

const (
	Must   Level = iota + 1 // broken → fail
	Should                  // not met → non-strict
	Compat                  // checks which of the original's or the stricter behaviour a relay has
	Info                    // only reports which allowed behaviour the relay chose
)

func (l Level) String() string {
	switch l {
	case Must:
		return "MUST"
	case Should:
		return "SHOULD"
	case Compat:
		return "COMPAT"
	case Info:
		return "INFO"
	}
	return "?"
}

// Case is one conformance check.
type Case struct {
	ID          string // "<section>/<slug>", stable
	Requirement string // the requirement, one sentence
	Level       Level
	Labels      []string
	Run         func(t *T)

	section *Section
	cost    int // rough run time weight for sharding
}

// Section is a numbered section of PROTOCOL.md with its cases.
type Section struct {
	Number string
	Title  string
	Cases  []*Case
}

// Section returns the section the case checks.
func (c *Case) Section() *Section { return c.section }

// AllLabels are the case's labels plus its level, lower case (for --label-filter "!should").
func (c *Case) AllLabels() []string {
	return append(slices.Clone(c.Labels), strings.ToLower(c.Level.String()))
}

// Weights for sharding: a crypto case runs for tens of seconds, a robustness case for seconds.
const (
	costPlain  = 1
	costSlow   = 5
	costCrypto = 100
)

var (
	sections []*Section
	byID     = map[string]*Case{}
)

// register adds a section's cases; every case file calls it from init. Ids are checked here so a
// typo cannot ship: the id must start with the section number and be unique.
func register(number, title string, cases ...*Case) {
	var s *Section
	for _, have := range sections {
		if have.Number == number {
			s = have
		}
	}
	if s == nil {
		s = &Section{Number: number, Title: title}
		sections = append(sections, s)
	}
	for _, c := range cases {
		if !strings.HasPrefix(c.ID, number+"/") {
			panic(fmt.Sprintf("conformance: case %q is registered under section %s", c.ID, number))
		}
		if _, dup := byID[c.ID]; dup {
			panic(fmt.Sprintf("conformance: duplicate case id %q", c.ID))
		}
		if c.Level == 0 || c.Requirement == "" || c.Run == nil {
			panic(fmt.Sprintf("conformance: case %q lacks level, requirement or body", c.ID))
		}
		c.section = s
		switch {
		case slices.Contains(c.Labels, "crypto"):
			c.cost = costCrypto
		case slices.Contains(c.Labels, "slow"), slices.Contains(c.Labels, "browser"), slices.Contains(c.Labels, "explore"):
			c.cost = costSlow
		default:
			c.cost = costPlain
		}
		byID[c.ID] = c
		s.Cases = append(s.Cases, c)
	}
	slices.SortStableFunc(sections, func(a, b *Section) int { return compareSection(a.Number, b.Number) })
}

// compareSection orders "4.10" after "4.9", and named sections ("explore") after numbered ones.
func compareSection(a, b string) int {
	as, bs := strings.Split(a, "."), strings.Split(b, ".")
	for i := 0; i < len(as) && i < len(bs); i++ {
		x, errx := strconv.Atoi(as[i])
		y, erry := strconv.Atoi(bs[i])
		if (errx == nil) != (erry == nil) {
			if errx == nil {
				return -1
			}
			return 1
		}
		if x != y {
			return x - y
		}
	}
	return len(as) - len(bs)
}

// Sections returns every section in protocol order.
func Sections() []*Section { return slices.Clone(sections) }

// Cases returns every case in protocol order.
func Cases() []*Case {
	var out []*Case
	for _, s := range sections {
		out = append(out, s.Cases...)
	}
	return out
}

// Lookup finds a case by id (an exploration of any seed too: "explore/123").
func Lookup(id string) (*Case, bool) {
	if c, ok := exploreCase(id); ok {
		return c, true
	}
	c, ok := byID[id]
	return c, ok
}

// Select returns the cases matching a Ginkgo label filter expression ("" = all) and focus
// (section numbers or case-id prefixes: "4.5" selects 4.5/...; "4" selects every 4.x; empty =
// all), in protocol order.
func Select(labelFilter string, focus []string) ([]*Case, error) {
	match := func([]string) bool { return true }
	if strings.TrimSpace(labelFilter) != "" {
		f, err := types.ParseLabelFilter(labelFilter)
		if err != nil {
			return nil, fmt.Errorf("label filter %q: %w", labelFilter, err)
		}
		match = f
	}
	var out []*Case
	for _, c := range Cases() {
		if match(c.AllLabels()) && focused(c, focus) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Without drops the cases that carry label (conform leaves out the browser cases unless
// --browser is given).
func Without(cases []*Case, label string) []*Case {
	return slices.DeleteFunc(slices.Clone(cases), func(c *Case) bool { return slices.Contains(c.Labels, label) })
}

func focused(c *Case, focus []string) bool {
	if len(focus) == 0 {
		return true
	}
	for _, f := range focus {
		f = strings.TrimSpace(f)
		switch {
		case f == c.ID, f == c.section.Number:
			return true
		case strings.HasPrefix(c.ID, f) && (strings.HasSuffix(f, "/") || strings.HasSuffix(f, ".")):
			return true
		case strings.HasPrefix(c.section.Number, f+"."):
			return true
		case strings.HasPrefix(c.ID, f+"/"):
			return true
		}
	}
	return false
}
