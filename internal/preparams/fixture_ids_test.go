package preparams

import (
	"os"
	"path/filepath"
	"testing"
)

// Every set of every TEST-ONLY fixture file is listed, and nothing else.
func TestFixtureIDsAreListed(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "testdata", "preparams", "TEST-ONLY-set-*.json"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no fixture files found: %v", err)
	}
	seen := map[string]bool{}
	for _, f := range files {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sets, err := ReadTestFixtures(fh)
		fh.Close()
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, s := range sets {
			if !IsTestFixture(s) {
				t.Errorf("%s: set %s is not in testFixtureIDs (add it: its primes are public)", f, s.ID())
			}
			seen[s.ID()] = true
		}
	}
	for id := range testFixtureIDs {
		if !seen[id] {
			t.Errorf("testFixtureIDs lists %s, which no fixture file holds", id)
		}
	}
}
