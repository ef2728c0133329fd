package preparams

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
)

func TestFixtureFilesAreTestOnlyAndDistinct(t *testing.T) {
	seen := map[string]bool{}
	for i := 1; i <= 4; i++ {
		f, err := os.Open(fmt.Sprintf("../../testdata/preparams/TEST-ONLY-set-%d.json", i))
		if err != nil {
			t.Fatal(err)
		}
		sets, err := ReadTestFixtures(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		for _, s := range sets {
			if seen[s.ID()] {
				t.Fatalf("set %s appears twice among the fixtures", s.ID())
			}
			seen[s.ID()] = true
			if !s.Local().ValidateWithProof() {
				t.Fatal("fixture set does not validate")
			}
		}
	}
	if len(seen) != 12 {
		t.Fatalf("want 12 fixture sets, got %d", len(seen))
	}
}

func TestReadTestFixturesRefusesOtherFiles(t *testing.T) {
	b, err := os.ReadFile("../../testdata/preparams/TEST-ONLY-set-1.json")
	if err != nil {
		t.Fatal(err)
	}
	for name, in := range map[string][]byte{
		"not json":        []byte("nope"),
		"not marked":      bytes.Replace(b, []byte(`"test_only": true`), []byte(`"test_only": false`), 1),
		"warning removed": bytes.Replace(b, []byte(FixtureWarning), []byte("fine"), 1),
		"set truncated":   bytes.Replace(b, []byte(`"PaillierSK"`), []byte(`"X"`), 1),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := ReadTestFixtures(bytes.NewReader(in)); err == nil {
				t.Fatal("accepted")
			}
		})
	}
	if _, err := ReadTestFixtures(strings.NewReader(`{"test_only":false}`)); !errors.Is(err, ErrNotFixture) {
		t.Fatalf("want ErrNotFixture, got %v", err)
	}
}

func TestSetRoundTripAndRedaction(t *testing.T) {
	f, _ := os.Open("../../testdata/preparams/TEST-ONLY-set-1.json")
	defer f.Close()
	sets, err := ReadTestFixtures(f)
	if err != nil {
		t.Fatal(err)
	}
	b, err := sets[0].Marshal()
	if err != nil {
		t.Fatal(err)
	}
	back, err := Unmarshal(b)
	if err != nil || back.ID() != sets[0].ID() {
		t.Fatalf("round trip: %v", err)
	}
	p := sets[0].Local().P.String()
	for _, s := range []string{fmt.Sprint(sets[0]), fmt.Sprintf("%v %+v %s", sets[0], sets[0], sets[0])} {
		if strings.Contains(s, p[:20]) || !strings.Contains(s, "REDACTED") {
			t.Fatalf("set printed as %q", s)
		}
	}
	if _, err := Unmarshal([]byte(`{}`)); !errors.Is(err, ErrInvalid) {
		t.Fatalf("empty set: %v", err)
	}
}
