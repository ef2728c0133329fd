package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode/utf8"
)

// MaxFileSize bounds a config file: a few settings, never megabytes.
const MaxFileSize = 1 << 20

// Kind is the TOML type of a value.
type Kind int

// The value types of the subset.
const (
	String  Kind = iota + 1 // "basic" or 'literal', on one line
	Bool                    // true or false
	Integer                 // decimal, with optional sign and underscores between digits
)

func (k Kind) String() string {
	switch k {
	case String:
		return "string"
	case Bool:
		return "boolean"
	case Integer:
		return "integer"
	}
	return "Kind(" + strconv.Itoa(int(k)) + ")"
}

// Value is one `key = value` line of a config file.
type Value struct {
	Key  string
	Kind Kind
	// Text is the value: a string's contents with escapes decoded, "true" or
	// "false", or an integer in canonical decimal.
	Text string
	// Raw is the value as written in the file, for error messages.
	Raw  string
	Line int
}

// File is a parsed config file.
type File struct {
	// Name is the file's path as given, used in error messages.
	Name string
	// Values are the settings in file order; no key appears twice.
	Values []Value
}

// Load reads and parses the config file at path. A file that cannot be
// read gives the os error; a bad one gives an [*Error].
func Load(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxFileSize+1))
	if err != nil {
		return nil, err
	}
	if len(data) > MaxFileSize {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, MaxFileSize)
	}
	return Parse(path, data)
}

// Parse reads a config file in a strict subset of TOML 1.0: one top-level
// `key = value` per line, with bare keys, single-line strings, booleans and
// decimal integers, blank lines and # comments. Everything else (tables,
// arrays, dotted or quoted keys, multi-line strings, floats, dates) is an
// error naming the line, as is a key set twice. Whether a key means
// anything is for [Scheme.Resolve] to say.
func Parse(name string, data []byte) (*File, error) {
	text, _ := strings.CutPrefix(string(data), "\uFEFF")
	if !utf8.ValidString(text) {
		return nil, &Error{Source: "config file " + name, Err: errorf(ErrSyntax, "not UTF-8 text")}
	}
	f := &File{Name: name}
	seen := map[string]int{}
	for i, line := range strings.Split(text, "\n") {
		n := i + 1
		v, ok, err := parseLine(strings.TrimSuffix(line, "\r"))
		if err != nil {
			return nil, &Error{Source: fmt.Sprintf("config file %s line %d", name, n), Err: errorf(ErrSyntax, "%v", err)}
		}
		if !ok {
			continue
		}
		if first, dup := seen[v.Key]; dup {
			return nil, &Error{Source: fmt.Sprintf("config file %s line %d", name, n), Err: errorf(ErrSyntax, "%s is already set on line %d", v.Key, first)}
		}
		seen[v.Key] = n
		v.Line = n
		f.Values = append(f.Values, v)
	}
	return f, nil
}

// parseLine parses one line; ok is false for a blank or comment line.
func parseLine(line string) (v Value, ok bool, err error) {
	for _, r := range line {
		if r < 0x20 && r != '\t' || r == 0x7f {
			return v, false, fmt.Errorf("control character %U", r)
		}
	}
	s := trimSpace(line)
	if s == "" || s[0] == '#' {
		return v, false, nil
	}
	switch s[0] {
	case '[':
		return v, false, errors.New("tables are not supported: write every setting as a top-level key = value")
	case '"', '\'':
		return v, false, errors.New("quoted keys are not supported")
	}
	end := 0
	for end < len(s) && isBareKeyByte(s[end]) {
		end++
	}
	if end == 0 {
		return v, false, fmt.Errorf("expected key = value, found %q", s)
	}
	v.Key = s[:end]
	rest := trimSpace(s[end:])
	if strings.HasPrefix(rest, ".") {
		return v, false, fmt.Errorf("%s: dotted keys are not supported", v.Key)
	}
	rest, found := strings.CutPrefix(rest, "=")
	if !found {
		return v, false, fmt.Errorf("%s: expected = after the key", v.Key)
	}
	rest = trimSpace(rest)
	raw, after, err := parseValue(rest, &v)
	if err != nil {
		return v, false, fmt.Errorf("%s: %v", v.Key, err)
	}
	v.Raw = raw
	after = trimSpace(after)
	if after != "" && after[0] != '#' {
		return v, false, fmt.Errorf("%s: unexpected %q after the value", v.Key, after)
	}
	return v, true, nil
}

// parseValue parses the value at the start of s into v and returns the
// value as written and what follows it.
func parseValue(s string, v *Value) (raw, rest string, err error) {
	if s == "" || s[0] == '#' {
		return "", "", errors.New("missing value")
	}
	switch {
	case strings.HasPrefix(s, `"""`), strings.HasPrefix(s, "'''"):
		return "", "", errors.New("multi-line strings are not supported")
	case s[0] == '"':
		text, n, err := basicString(s)
		if err != nil {
			return "", "", err
		}
		v.Kind, v.Text = String, text
		return s[:n], s[n:], nil
	case s[0] == '\'':
		end := strings.IndexByte(s[1:], '\'')
		if end < 0 {
			return "", "", errors.New("unterminated string")
		}
		v.Kind, v.Text = String, s[1:1+end]
		return s[:end+2], s[end+2:], nil
	case s[0] == '[':
		return "", "", errors.New("arrays are not supported")
	case s[0] == '{':
		return "", "", errors.New("inline tables are not supported")
	}
	end := strings.IndexAny(s, " \t#")
	if end < 0 {
		end = len(s)
	}
	word := s[:end]
	switch word {
	case "true", "false":
		v.Kind, v.Text = Bool, word
		return word, s[end:], nil
	}
	if n, ok := decimal(word); ok {
		v.Kind, v.Text = Integer, strconv.FormatInt(n, 10)
		return word, s[end:], nil
	}
	return "", "", fmt.Errorf("%s is not a string, boolean or decimal integer (quote strings: %q)", word, word)
}

// basicString decodes the double-quoted string at the start of s and
// returns it and the number of bytes it took, quotes included.
func basicString(s string) (string, int, error) {
	var b strings.Builder
	for i := 1; i < len(s); {
		c := s[i]
		switch c {
		case '"':
			return b.String(), i + 1, nil
		case '\\':
			if i+1 >= len(s) {
				return "", 0, errors.New("unterminated string")
			}
			e := s[i+1]
			i += 2
			switch e {
			case 'b':
				b.WriteByte('\b')
			case 't':
				b.WriteByte('\t')
			case 'n':
				b.WriteByte('\n')
			case 'f':
				b.WriteByte('\f')
			case 'r':
				b.WriteByte('\r')
			case '"':
				b.WriteByte('"')
			case '\\':
				b.WriteByte('\\')
			case 'u', 'U':
				size := 4
				if e == 'U' {
					size = 8
				}
				if i+size > len(s) {
					return "", 0, fmt.Errorf("short \\%c escape", e)
				}
				n, err := strconv.ParseUint(s[i:i+size], 16, 32)
				if err != nil || !utf8.ValidRune(rune(n)) {
					return "", 0, fmt.Errorf("bad escape \\%c%s", e, s[i:i+size])
				}
				b.WriteRune(rune(n))
				i += size
			default:
				return "", 0, fmt.Errorf("bad escape \\%c", e)
			}
		default:
			b.WriteByte(c)
			i++
		}
	}
	return "", 0, errors.New("unterminated string")
}

// decimal parses a TOML decimal integer: an optional sign, no leading
// zero, underscores only between digits.
func decimal(s string) (int64, bool) {
	digits := strings.TrimLeft(s, "+-")
	if len(s)-len(digits) > 1 || digits == "" || len(digits) > 1 && digits[0] == '0' {
		return 0, false
	}
	prev := byte('_')
	for i := 0; i < len(digits); i++ {
		c := digits[i]
		switch {
		case c >= '0' && c <= '9':
		case c == '_' && prev != '_' && i+1 < len(digits):
		default:
			return 0, false
		}
		prev = c
	}
	n, err := strconv.ParseInt(strings.TrimPrefix(strings.ReplaceAll(s, "_", ""), "+"), 10, 64)
	return n, err == nil
}

func isBareKeyByte(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

func trimSpace(s string) string { return strings.Trim(s, " \t") }
