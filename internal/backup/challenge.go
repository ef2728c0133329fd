package backup

import (
	"crypto/subtle"
	"errors"
	"math/rand/v2"
	"slices"
)

// ChallengePositions picks n distinct random word positions (1-based, in
// increasing order) for the person to re-enter after writing the words down.
// n is clamped to 1..WordCount.
func ChallengePositions(n int) []int {
	n = min(max(n, 1), WordCount)
	p := rand.Perm(WordCount)[:n]
	for i := range p {
		p[i]++
	}
	slices.Sort(p)
	return p
}

// CheckChallenge checks the words re-entered at the given 1-based positions
// (normalised like ParseWords; four-letter abbreviations count). Wrong
// answers give a *WordsError with Problem ChallengeMismatch (errors.Is
// ErrChallengeFailed) naming every wrong position.
func CheckChallenge(words Mnemonic, positions []int, answers []string) error {
	if words.IsZero() {
		return errors.New("backup: challenge: no words")
	}
	if len(positions) == 0 || len(positions) != len(answers) {
		return errors.New("backup: challenge: need one answer per position")
	}
	seen := make(map[int]bool, len(positions))
	for _, p := range positions {
		if p < 1 || p > WordCount || seen[p] {
			return errors.New("backup: challenge: bad or repeated position")
		}
		seen[p] = true
	}
	l := english()
	var wrong []int
	for i, p := range positions {
		got, ok := l.lookup(normalise(answers[i]))
		if !ok || subtle.ConstantTimeEq(int32(got), int32(words.ix[p-1])) != 1 {
			wrong = append(wrong, p)
		}
	}
	if len(wrong) > 0 {
		slices.Sort(wrong)
		return &WordsError{Problem: ChallengeMismatch, Positions: wrong}
	}
	return nil
}
