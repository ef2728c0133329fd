package backup

import (
	"slices"
	"strings"
	"testing"
)

func TestChallengePositions(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ n, want int }{{3, 3}, {1, 1}, {0, 1}, {-5, 1}, {24, 24}, {100, 24}} {
		p := ChallengePositions(tt.n)
		if len(p) != tt.want || !slices.IsSorted(p) || len(slices.Compact(slices.Clone(p))) != len(p) || p[0] < 1 || p[len(p)-1] > WordCount {
			t.Errorf("ChallengePositions(%d) = %v", tt.n, p)
		}
	}
	// The positions vary: 50 draws of 3 out of 24 are not all the same.
	first := ChallengePositions(3)
	same := true
	for range 50 {
		same = same && slices.Equal(first, ChallengePositions(3))
	}
	if same {
		t.Fatal("ChallengePositions always returns the same positions")
	}
}

func TestCheckChallenge(t *testing.T) {
	t.Parallel()
	_, m := sealed(t, 5)
	w := m.Words()
	other := "abandon"
	if w[4] == other {
		other = "zoo"
	}
	tests := []struct {
		name      string
		positions []int
		answers   []string
		wrong     []int // nil: accepted
		bad       bool  // a usage error, not a mismatch
	}{
		{"right", []int{2, 5, 17}, []string{w[1], w[4], w[16]}, nil, false},
		{"case, spaces, abbreviation", []int{5, 17}, []string{" " + strings.ToUpper(w[4]) + " ", w[16][:min(4, len(w[16]))]}, nil, false},
		{"one wrong", []int{2, 5, 17}, []string{w[1], other, w[16]}, []int{5}, false},
		{"unknown word", []int{2, 5}, []string{"notaword", w[4]}, []int{2}, false},
		{"answers in the wrong order", []int{2, 5}, []string{w[4], w[1]}, []int{2, 5}, w[1] == w[4]},
		{"empty answer", []int{24}, []string{""}, []int{24}, false},
		{"missing answer", []int{2, 5}, []string{w[1]}, nil, true},
		{"no positions", nil, nil, nil, true},
		{"position 0", []int{0}, []string{w[0]}, nil, true},
		{"position 25", []int{25}, []string{w[0]}, nil, true},
		{"repeated position", []int{3, 3}, []string{w[2], w[2]}, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckChallenge(m, tt.positions, tt.answers)
			switch {
			case tt.bad:
				if err == nil || isWordsError(err) {
					t.Fatalf("%v: want a usage error", err)
				}
			case tt.wrong == nil:
				if err != nil {
					t.Fatal(err)
				}
			default:
				wordsErr(t, err, ChallengeMismatch, tt.wrong...)
			}
		})
	}
	if err := CheckChallenge(Mnemonic{}, []int{1}, []string{w[0]}); err == nil {
		t.Fatal("challenge without words passed")
	}
}

// isWordsError reports whether err is a *WordsError.
func isWordsError(err error) bool {
	_, ok := err.(*WordsError)
	return ok
}
