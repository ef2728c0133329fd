package backup

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// testHeader is a valid header of device "dev-b" for epoch 3.
func testHeader() Header {
	return Header{
		KeyID:     "k0123456789abcdef0123",
		Epoch:     3,
		DeviceID:  "dev-b",
		PublicKey: append([]byte{2}, bytes.Repeat([]byte{0xab}, 32)...),
		Threshold: 1,
		Holders:   []string{"dev-a", "dev-b", "dev-c"},
		CreatedAt: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
	}
}

var testShare = []byte(`{"meta":{"key_id":"k0123456789abcdef0123","epoch":3},"data":"not a real share"}`)

// sealed seals testShare under testHeader with randomness from seed, so that
// every run gets the same key and file.
func sealed(t testing.TB, seed byte) ([]byte, Mnemonic) {
	t.Helper()
	return sealedWith(t, seed, testHeader(), testShare)
}

func sealedWith(t testing.TB, seed byte, h Header, pt []byte) ([]byte, Mnemonic) {
	t.Helper()
	var s [32]byte
	s[0] = seed
	file, m, err := seal(rand.NewChaCha8(s), h, pt)
	if err != nil {
		t.Fatalf("seal: %v", err)
	}
	return file, m
}

// parseWords is ParseWordList that fails the test on error.
func parseWords(t testing.TB, words []string) Mnemonic {
	t.Helper()
	m, err := ParseWordList(words)
	if err != nil {
		t.Fatalf("ParseWordList: %v", err)
	}
	return m
}

// wordsErr asserts that err is a *WordsError with the problem and positions.
func wordsErr(t *testing.T, err error, problem WordsProblem, positions ...int) {
	t.Helper()
	var we *WordsError
	if !errors.As(err, &we) {
		t.Fatalf("error %v (%T) is not a *WordsError", err, err)
	}
	if we.Problem != problem || !slices.Equal(we.Positions, positions) {
		t.Fatalf("got problem %d at %v (%v), want problem %d at %v", we.Problem, we.Positions, err, problem, positions)
	}
	if problem == ChallengeMismatch {
		if !errors.Is(err, ErrChallengeFailed) || errors.Is(err, ErrWrongWords) {
			t.Fatalf("%v: want ErrChallengeFailed only", err)
		}
	} else if !errors.Is(err, ErrWrongWords) {
		t.Fatalf("%v: want ErrWrongWords", err)
	}
}

// headerEqual compares headers, times with time.Equal.
func headerEqual(a, b Header) bool {
	return a.Version == b.Version && a.KeyID == b.KeyID && a.Epoch == b.Epoch && a.DeviceID == b.DeviceID &&
		bytes.Equal(a.PublicKey, b.PublicKey) && a.Threshold == b.Threshold && slices.Equal(a.Holders, b.Holders) &&
		a.CreatedAt.Equal(b.CreatedAt)
}

// editHeader rewrites the header line of a file with f (the JSON as text).
func editHeader(t *testing.T, file []byte, f func(string) string) []byte {
	t.Helper()
	lines := strings.SplitN(string(file), "\n", 3)
	if len(lines) != 3 {
		t.Fatalf("file has %d lines", len(lines))
	}
	edited := f(lines[1])
	if edited == lines[1] {
		t.Fatal("edit changed nothing")
	}
	lines[1] = edited
	return []byte(strings.Join(lines, "\n"))
}
