package hd

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Sentinel errors. Returned errors wrap exactly one of these (test with
// errors.Is); the wrapping text says what in particular was wrong.
var (
	ErrInvalidPath  = errors.New("hd: invalid derivation path")
	ErrHardened     = errors.New("hd: hardened derivation is impossible for a threshold key")
	ErrInvalidKey   = errors.New("hd: invalid extended public key")
	ErrInvalidChild = errors.New("hd: invalid BIP32 child")
)

const (
	// HardenedStart is the first hardened BIP32 index (2^31).
	HardenedStart = 1 << 31

	// MaxDepth is the most steps a path may have. BIP32 allows 255; wallet
	// standards use at most 6 (BIP44 uses 5). 32 keeps the cost of a request
	// small (one scalar multiplication per step).
	MaxDepth = 32

	// MaxPathLen is the longest path string ParsePath reads: "m" and MaxDepth
	// steps of up to 10 digits, each after a '/'.
	MaxPathLen = 1 + MaxDepth*11

	// maxQuoted bounds how much of a bad step an error message repeats.
	maxQuoted = 16
)

// ParsePath parses a BIP32 path of non-hardened steps.
//
// The accepted form is "m" (the root: an empty, non-nil path) or "m/" followed
// by steps separated by '/'; the leading "m/" may be left out ("44/60/0/0/7"
// equals "m/44/60/0/0/7"). A step is a decimal number below 2^31 written
// without sign, spaces or leading zeros, so every path has one spelling
// (FormatPath gives it). The empty string is refused: the caller decides what
// "no path" means.
//
// Hardened steps ("0'", "0h", "0H", or a number >= 2^31) are refused with an
// error wrapping ErrHardened that names the step: hardened derivation needs
// the parent private key, which no one holds for a threshold key. Every other
// error wraps ErrInvalidPath. At most MaxDepth steps and MaxPathLen bytes.
func ParsePath(s string) ([]uint32, error) {
	if len(s) > MaxPathLen {
		return nil, fmt.Errorf("%w: %d bytes, longer than %d", ErrInvalidPath, len(s), MaxPathLen)
	}
	switch {
	case s == "":
		return nil, fmt.Errorf("%w: empty (the root key is \"m\")", ErrInvalidPath)
	case s == "m":
		return []uint32{}, nil
	case strings.HasPrefix(s, "m/"):
		s = s[2:]
	}
	steps := strings.Split(s, "/")
	if len(steps) > MaxDepth {
		return nil, fmt.Errorf("%w: %d steps, more than %d", ErrInvalidPath, len(steps), MaxDepth)
	}
	path := make([]uint32, 0, len(steps))
	for i, step := range steps {
		v, err := parseStep(i+1, step)
		if err != nil {
			return nil, err
		}
		path = append(path, v)
	}
	return path, nil
}

// parseStep reads step n (counted from 1); its errors wrap ErrHardened or
// ErrInvalidPath and name the step.
func parseStep(n int, step string) (uint32, error) {
	bad := func(sentinel error, why string) (uint32, error) {
		return 0, fmt.Errorf("%w: step %d %s %s", sentinel, n, quote(step), why)
	}
	const noKey = "is hardened; that needs the parent private key, which no one holds: use non-hardened steps only"
	if step == "" {
		return bad(ErrInvalidPath, "is empty")
	}
	if last := step[len(step)-1]; last == '\'' || last == 'h' || last == 'H' {
		return bad(ErrHardened, noKey)
	}
	for i := 0; i < len(step); i++ {
		if step[i] < '0' || step[i] > '9' {
			return bad(ErrInvalidPath, "is not a decimal number")
		}
	}
	if len(step) > 1 && step[0] == '0' {
		return bad(ErrInvalidPath, "has a leading zero")
	}
	v, err := strconv.ParseUint(step, 10, 32)
	if err != nil {
		return bad(ErrInvalidPath, "does not fit in 32 bits")
	}
	if v >= HardenedStart {
		return bad(ErrHardened, "(an index >= 2^31) "+noKey)
	}
	return uint32(v), nil
}

// quote returns step quoted, cut to maxQuoted bytes.
func quote(step string) string {
	if len(step) > maxQuoted {
		return strconv.Quote(step[:maxQuoted]) + "..."
	}
	return strconv.Quote(step)
}

// FormatPath writes path in the form ParsePath reads: "m" for an empty path,
// else "m/" and the steps. A hardened index (which ParsePath refuses) is
// written in the usual notation, i - 2^31 followed by "'".
func FormatPath(path []uint32) string {
	var b strings.Builder
	b.WriteString("m")
	for _, i := range path {
		b.WriteByte('/')
		if i >= HardenedStart {
			b.WriteString(strconv.FormatUint(uint64(i-HardenedStart), 10))
			b.WriteByte('\'')
			continue
		}
		b.WriteString(strconv.FormatUint(uint64(i), 10))
	}
	return b.String()
}
