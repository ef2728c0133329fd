package hd

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestParsePath(t *testing.T) {
	for _, c := range []struct {
		in   string
		want []uint32
	}{
		{"m", []uint32{}},
		{"m/0", []uint32{0}},
		{"m/44/60/0/0/7", []uint32{44, 60, 0, 0, 7}},
		{"44/60/0/0/7", []uint32{44, 60, 0, 0, 7}},
		{"0", []uint32{0}},
		{"m/2147483647", []uint32{HardenedStart - 1}},
		{"m" + strings.Repeat("/1", MaxDepth), slices.Repeat([]uint32{1}, MaxDepth)},
		{"m" + strings.Repeat("/2147483647", MaxDepth), slices.Repeat([]uint32{HardenedStart - 1}, MaxDepth)},
	} {
		got, err := ParsePath(c.in)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", c.in, err)
			continue
		}
		if got == nil || !slices.Equal(got, c.want) {
			t.Errorf("ParsePath(%q) = %v, want %v", c.in, got, c.want)
		}
	}
}

func TestParsePathRefuses(t *testing.T) {
	for _, c := range []struct {
		in      string
		want    error
		mention string // the error names the step
	}{
		{"m/44'/60/0", ErrHardened, `step 1 "44'"`},
		{"m/44/60h", ErrHardened, `step 2 "60h"`},
		{"m/44/60/0H", ErrHardened, `step 3 "0H"`},
		{"m/2147483648", ErrHardened, `step 1 "2147483648"`},
		{"m/0/4294967295", ErrHardened, `step 2 "4294967295"`},
		{"m/4294967296", ErrInvalidPath, `step 1 "4294967296"`},
		{"m/99999999999999999999999", ErrInvalidPath, "step 1"},
		{"", ErrInvalidPath, "empty"},
		{"m/", ErrInvalidPath, "step 1"},
		{"/0", ErrInvalidPath, "step 1"},
		{"m//0", ErrInvalidPath, "step 1"},
		{"m/0/", ErrInvalidPath, "step 2"},
		{"M/0", ErrInvalidPath, "step 1"},
		{"m/01", ErrInvalidPath, "leading zero"},
		{"m/+1", ErrInvalidPath, "step 1"},
		{"m/-1", ErrInvalidPath, "step 1"},
		{"m/ 1", ErrInvalidPath, "step 1"},
		{"m/1 ", ErrInvalidPath, "step 1"},
		{"m/0x10", ErrInvalidPath, "step 1"},
		{"m/1/m", ErrInvalidPath, "step 2"},
		{"m/１", ErrInvalidPath, "step 1"}, // fullwidth digit
		{"m" + strings.Repeat("/1", MaxDepth+1), ErrInvalidPath, "steps"},
		{strings.Repeat("1", MaxPathLen+1), ErrInvalidPath, "longer"},
	} {
		got, err := ParsePath(c.in)
		if !errors.Is(err, c.want) || got != nil {
			t.Errorf("ParsePath(%q) = %v, %v; want error %v", c.in, got, err, c.want)
			continue
		}
		if other := map[error]error{ErrHardened: ErrInvalidPath, ErrInvalidPath: ErrHardened}[c.want]; errors.Is(err, other) {
			t.Errorf("ParsePath(%q): %v also matches %v", c.in, err, other)
		}
		if !strings.Contains(err.Error(), c.mention) {
			t.Errorf("ParsePath(%q): error %q does not mention %q", c.in, err, c.mention)
		}
		if c.want == ErrHardened && !strings.Contains(err.Error(), "no one holds") {
			t.Errorf("ParsePath(%q): error %q does not say why", c.in, err)
		}
	}
}

func TestParsePathErrorQuotesLittle(t *testing.T) {
	_, err := ParsePath("m/" + strings.Repeat("x", 200))
	if err == nil || len(err.Error()) > 120 {
		t.Fatalf("error %q: want a short error", err)
	}
}

func TestFormatPath(t *testing.T) {
	for _, c := range []struct {
		in   []uint32
		want string
	}{
		{nil, "m"},
		{[]uint32{}, "m"},
		{[]uint32{44, 60, 0, 0, 7}, "m/44/60/0/0/7"},
		{[]uint32{HardenedStart - 1}, "m/2147483647"},
		{[]uint32{HardenedStart, 1, HardenedStart + 2}, "m/0'/1/2'"},
	} {
		if got := FormatPath(c.in); got != c.want {
			t.Errorf("FormatPath(%v) = %q, want %q", c.in, got, c.want)
		}
	}
}

// FuzzParsePath checks that ParsePath never panics, fails only with one of
// its two sentinels, and that what it accepts round-trips: FormatPath gives
// the input back (with "m/" added when it was left out) and parses again to
// the same path.
func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"m", "m/0", "m/44/60/0/0/7", "44/60/0", "m/44'/0", "m/0h", "m/0H", "m/2147483647",
		"m/2147483648", "m/4294967296", "m/01", "m//", "", "/", "m/", "M/1", "m/+1", "m/1/" + strings.Repeat("9", 40),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePath(s)
		if err != nil {
			if p != nil {
				t.Fatalf("non-nil path with error %v", err)
			}
			if errors.Is(err, ErrHardened) == errors.Is(err, ErrInvalidPath) {
				t.Fatalf("error %v wraps not exactly one sentinel", err)
			}
			return
		}
		if len(p) > MaxDepth {
			t.Fatalf("accepted %d steps", len(p))
		}
		for _, i := range p {
			if i >= HardenedStart {
				t.Fatalf("accepted hardened index %d", i)
			}
		}
		out := FormatPath(p)
		if out != s && out != "m/"+s {
			t.Fatalf("FormatPath(ParsePath(%q)) = %q", s, out)
		}
		again, err := ParsePath(out)
		if err != nil || !slices.Equal(again, p) {
			t.Fatalf("ParsePath(%q) = %v, %v; want %v", out, again, err, p)
		}
	})
}
