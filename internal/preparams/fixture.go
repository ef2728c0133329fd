package preparams

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
)

// FixtureWarning is written into every fixture file. Fixture sets are shared by
// every checkout of the repository, so their secrets are public: they exist only
// so that tests need not wait minutes for safe primes.
const FixtureWarning = "TEST ONLY: these pre-parameters are public; never use them for a real key"

// ErrNotFixture reports a file that is not a test fixture file.
var ErrNotFixture = errors.New("preparams: not a test-only fixture file")

type fixtureFile struct {
	Warning  string            `json:"warning"`
	TestOnly bool              `json:"test_only"`
	Sets     []json.RawMessage `json:"sets"`
}

// WriteTestFixtures writes sets as a test-only fixture file.
func WriteTestFixtures(w io.Writer, sets []*Set) error {
	f := fixtureFile{Warning: FixtureWarning, TestOnly: true}
	for _, s := range sets {
		b, err := s.Marshal()
		if err != nil {
			return err
		}
		f.Sets = append(f.Sets, b)
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", " ")
	return enc.Encode(f)
}

// ReadTestFixtures reads a file written by WriteTestFixtures. It refuses any
// file that is not marked test-only.
func ReadTestFixtures(r io.Reader) ([]*Set, error) {
	var f fixtureFile
	if err := json.NewDecoder(io.LimitReader(r, 64<<20)).Decode(&f); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotFixture, err)
	}
	if !f.TestOnly || f.Warning != FixtureWarning {
		return nil, ErrNotFixture
	}
	sets := make([]*Set, 0, len(f.Sets))
	for i, raw := range f.Sets {
		s, err := Unmarshal(raw)
		if err != nil {
			return nil, fmt.Errorf("fixture set %d: %w", i, err)
		}
		sets = append(sets, s)
	}
	return sets, nil
}
