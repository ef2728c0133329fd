package config

import (
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/pelletier/go-toml/v2/unstable"
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

// Parse reads a config file: TOML, parsed by go-toml's parser, restricted
// to top-level `key = value` settings with bare keys and single-line
// string, boolean or decimal integer values. Everything else (tables,
// arrays, inline tables, dotted or quoted keys, multi-line strings, floats,
// dates, hexadecimal, octal or binary integers), invalid TOML and a key set
// twice are an [*Error] matching [ErrSyntax] that names the file and the
// line. Whether a key means anything is for [Scheme.Resolve] to say.
func Parse(name string, data []byte) (*File, error) {
	text, _ := strings.CutPrefix(string(data), "\uFEFF")
	if !utf8.ValidString(text) {
		return nil, &Error{Source: "config file " + name, Err: errorf(ErrSyntax, "not UTF-8 text")}
	}
	b := []byte(text)
	var p unstable.Parser
	p.Reset(b[:len(b):len(b)]) // capped: the parser finds offsets from capacities
	f := &File{Name: name}
	seen := map[string]int{}
	pos, line, end := 0, 1, 0 // line is that of offset pos; end is where the last setting ended
	for p.NextExpression() {
		e := p.Expression()
		it := e.Key()
		it.Next()
		k := it.Node()
		off := int(k.Raw.Offset)
		line += strings.Count(text[pos:off], "\n")
		pos = off
		key := "" // the line's bare key, once known to be one
		fail := func(format string, args ...any) (*File, error) {
			return nil, &Error{Source: fmt.Sprintf("config file %s line %d", name, line), Key: key, Err: errorf(ErrSyntax, format, args...)}
		}
		v := Value{Key: string(k.Data), Line: line}
		switch raw := string(p.Raw(k.Raw)); {
		case e.Kind != unstable.KeyValue:
			return fail("tables are not supported: write every setting as a top-level key = value")
		case raw == "" || raw[0] == '"' || raw[0] == '\'':
			return fail("quoted keys are not supported")
		}
		key = v.Key // of a dotted key, its first part
		if k.Next() != nil {
			return fail("%s: dotted keys are not supported", v.Key)
		}
		if first, dup := seen[v.Key]; dup {
			return fail("%s is already set on line %d", v.Key, first)
		}
		val := e.Value()
		v.Raw, v.Text = string(p.Raw(val.Raw)), string(val.Data)
		switch val.Kind {
		case unstable.Array:
			return fail("%s: arrays are not supported", v.Key)
		case unstable.InlineTable:
			return fail("%s: inline tables are not supported", v.Key)
		case unstable.String:
			if strings.HasPrefix(v.Raw, `"""`) || strings.HasPrefix(v.Raw, "'''") {
				return fail("%s: multi-line strings are not supported", v.Key)
			}
			v.Kind = String
		case unstable.Bool:
			v.Kind = Bool
		case unstable.Integer:
			n, err := strconv.ParseInt(strings.ReplaceAll(v.Text, "_", ""), 10, 64)
			if err == nil {
				v.Kind, v.Text = Integer, strconv.FormatInt(n, 10)
			}
		}
		if v.Kind == 0 { // floats, dates, and integers that are not decimal or too big
			return fail("%s: %s", v.Key, notScalar(v.Raw))
		}
		seen[v.Key] = line
		f.Values = append(f.Values, v)
		end = int(e.Raw.Offset + e.Raw.Length)
	}
	if err := p.Error(); err != nil {
		return nil, syntaxError(name, text, &p, end, err)
	}
	return f, nil
}

func notScalar(word string) string {
	return fmt.Sprintf("%s is not a string, boolean or decimal integer (quote strings: %q)", word, word)
}

const bareKeyChars = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-"

// syntaxError words the parser's error err, met after the last setting,
// which ended at offset end. An error in a setting names the setting's line
// and key, and an unquoted value on that line is said to be one. An error
// on a later line, inside a multi-line value, is still reported on the
// setting's line (adding the later line's number) and quotes nothing from
// the later line: it may look like `key = value` and be part of a secret.
func syntaxError(name, text string, p *unstable.Parser, end int, err error) error {
	var pe *unstable.ParserError
	if !errors.As(err, &pe) {
		return &Error{Source: "config file " + name, Err: errorf(ErrSyntax, "%v", err)}
	}
	off := int(p.Range(pe.Highlight).Offset)
	line := 1 + strings.Count(text[:off], "\n")
	rest := strings.TrimLeft(text[end:], " \t\r\n") // skip blanks and comments to the failed setting
	for strings.HasPrefix(rest, "#") {
		_, rest, _ = strings.Cut(rest, "\n")
		rest = strings.TrimLeft(rest, " \t\r\n")
	}
	start := len(text) - len(rest)
	key := rest[:len(rest)-len(strings.TrimLeft(rest, bareKeyChars))]
	if key == "" || start > off {
		return &Error{Source: fmt.Sprintf("config file %s line %d", name, line), Err: errorf(ErrSyntax, "%s", pe.Message)}
	}
	source := fmt.Sprintf("config file %s line %d", name, 1+strings.Count(text[:start], "\n"))
	if strings.Contains(text[start:off], "\n") {
		return &Error{Source: source, Key: key, Err: errorf(ErrSyntax, "%s: line %d: %s", key, line, pe.Message)}
	}
	msg := pe.Message
	if after, ok := strings.CutPrefix(strings.TrimLeft(rest[len(key):], " \t"), "="); ok {
		value := strings.TrimLeft(after, " \t")
		word, from := value, len(text)-len(value)
		if i := strings.IndexAny(value, " \t\r\n#"); i >= 0 {
			word = value[:i]
		}
		switch {
		case word == "":
			msg = "missing value"
		case !strings.ContainsAny(word[:1], `"'[{`) && off >= from && off < from+len(word) &&
			strings.IndexFunc(word, unicode.IsControl) < 0:
			msg = notScalar(word)
		}
	}
	return &Error{Source: source, Key: key, Err: errorf(ErrSyntax, "%s: %s", key, msg)}
}
