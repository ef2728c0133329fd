package config

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestParse(t *testing.T) {
	t.Parallel()
	src := "\uFEFF# coordinator\r\n" +
		"\n" +
		"listen = \"127.0.0.1:7400\"   # trailing comment\r\n" +
		"  data=\"/var/lib/mpc \\\"x\\\"\\t\\u00e9\\U0001F600\"\n" +
		"advertise = 'C:\\literal\\path'\n" +
		"auto_approve = true\n" +
		"verbose = false#c\n" +
		"count = -1_000\n" +
		"zero = +0\n" +
		"empty = \"\"\n" +
		"hash = \"a#b\"\n" +
		"Key-2 = 7\n"
	f, err := Parse("c.toml", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if f.Name != "c.toml" {
		t.Errorf("Name = %q", f.Name)
	}
	want := []Value{
		{Key: "listen", Kind: String, Text: "127.0.0.1:7400", Raw: `"127.0.0.1:7400"`, Line: 3},
		{Key: "data", Kind: String, Text: "/var/lib/mpc \"x\"\t\u00e9\U0001F600", Raw: `"/var/lib/mpc \"x\"\t\u00e9\U0001F600"`, Line: 4},
		{Key: "advertise", Kind: String, Text: `C:\literal\path`, Raw: `'C:\literal\path'`, Line: 5},
		{Key: "auto_approve", Kind: Bool, Text: "true", Raw: "true", Line: 6},
		{Key: "verbose", Kind: Bool, Text: "false", Raw: "false", Line: 7},
		{Key: "count", Kind: Integer, Text: "-1000", Raw: "-1_000", Line: 8},
		{Key: "zero", Kind: Integer, Text: "0", Raw: "+0", Line: 9},
		{Key: "empty", Kind: String, Text: "", Raw: `""`, Line: 10},
		{Key: "hash", Kind: String, Text: "a#b", Raw: `"a#b"`, Line: 11},
		{Key: "Key-2", Kind: Integer, Text: "7", Raw: "7", Line: 12},
	}
	if !reflect.DeepEqual(f.Values, want) {
		t.Fatalf("got  %+v\nwant %+v", f.Values, want)
	}
}

func TestParseEmpty(t *testing.T) {
	t.Parallel()
	for _, src := range []string{"", "\n\n", "# only a comment\n", "   \t\n"} {
		if f, err := Parse("c.toml", []byte(src)); err != nil || len(f.Values) != 0 {
			t.Errorf("Parse(%q) = %+v, %v; want no values", src, f, err)
		}
	}
}

func TestParseErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name, src string
		want      string // the whole message
	}{
		{"table", "a = 1\n[server]\n", "config file c.toml line 2: tables are not supported: write every setting as a top-level key = value"},
		{"array of tables", "[[x]]", "config file c.toml line 1: tables are not supported: write every setting as a top-level key = value"},
		{"quoted key", `"listen" = "x"`, "config file c.toml line 1: quoted keys are not supported"},
		{"dotted key", "server.listen = \"x\"", "config file c.toml line 1: server: dotted keys are not supported"},
		{"no equals", "listen \"x\"", "config file c.toml line 1: listen: expected '=' after key"},
		{"no key", "= 1", `config file c.toml line 1: invalid character at start of key: U+003D '='`},
		{"missing value", "listen =", "config file c.toml line 1: listen: missing value"},
		{"missing value before comment", "listen = # x", "config file c.toml line 1: listen: missing value"},
		{"unquoted string", "\n\nlisten = 127.0.0.1:7400", `config file c.toml line 3: listen: 127.0.0.1:7400 is not a string, boolean or decimal integer (quote strings: "127.0.0.1:7400")`},
		{"float", "x = 1.5", `config file c.toml line 1: x: 1.5 is not a string, boolean or decimal integer (quote strings: "1.5")`},
		{"hex", "x = 0x10", `config file c.toml line 1: x: 0x10 is not a string, boolean or decimal integer (quote strings: "0x10")`},
		{"leading zero", "x = 007", `config file c.toml line 1: x: 007 is not a string, boolean or decimal integer (quote strings: "007")`},
		{"double underscore", "x = 1__0", `config file c.toml line 1: x: 1__0 is not a string, boolean or decimal integer (quote strings: "1__0")`},
		{"trailing underscore", "x = 10_", `config file c.toml line 1: x: 10_ is not a string, boolean or decimal integer (quote strings: "10_")`},
		{"too big", "x = 9223372036854775808", `config file c.toml line 1: x: 9223372036854775808 is not a string, boolean or decimal integer (quote strings: "9223372036854775808")`},
		{"capital True", "x = True", `config file c.toml line 1: x: True is not a string, boolean or decimal integer (quote strings: "True")`},
		{"array", `x = ["a"]`, "config file c.toml line 1: x: arrays are not supported"},
		{"inline table", `x = {a = 1}`, "config file c.toml line 1: x: inline tables are not supported"},
		{"multi-line basic", `x = """a"""`, "config file c.toml line 1: x: multi-line strings are not supported"},
		{"multi-line literal", `x = '''a'''`, "config file c.toml line 1: x: multi-line strings are not supported"},
		{"unterminated", `x = "abc`, "config file c.toml line 1: x: unterminated basic string"},
		{"unterminated escape", `x = "abc\`, `config file c.toml line 1: x: need a character after \`},
		{"unterminated literal", `x = 'abc`, "config file c.toml line 1: x: unterminated literal string"},
		{"bad escape", `x = "a\qb"`, `config file c.toml line 1: x: invalid escape character U+0071 'q'`},
		{"short unicode escape", `x = "\u12"`, `config file c.toml line 1: x: unicode escape sequence is too short`},
		{"surrogate escape", `x = "\ud800"`, `config file c.toml line 1: x: escape sequence is not a valid unicode code point`},
		{"garbage after value", `x = "a" "b"`, `config file c.toml line 1: x: expected newline but got U+0022 '"'`},
		{"garbage after bool", `x = true false`, `config file c.toml line 1: x: expected newline but got U+0066 'f'`},
		{"control character", "x = \"a\x01b\"", "config file c.toml line 1: x: basic strings cannot have control characters"},
		{"duplicate key", "x = 1\n# again\nx = 2\n", "config file c.toml line 3: x is already set on line 1"},
		{"not UTF-8", "x = \"\xff\"", "config file c.toml: not UTF-8 text"},
		// The parser is go-toml's: what TOML has beyond the subset is refused
		// after it, anything else is its error with our key and hint.
		{"date", "x = 1979-05-27", `config file c.toml line 1: x: 1979-05-27 is not a string, boolean or decimal integer (quote strings: "1979-05-27")`},
		{"nan", "x = nan", `config file c.toml line 1: x: nan is not a string, boolean or decimal integer (quote strings: "nan")`},
		{"octal", "x = 0o17", `config file c.toml line 1: x: 0o17 is not a string, boolean or decimal integer (quote strings: "0o17")`},
		{"binary", "x = 0b11", `config file c.toml line 1: x: 0b11 is not a string, boolean or decimal integer (quote strings: "0b11")`},
		{"signed hex", "x = -0x10", `config file c.toml line 1: x: -0x10 is not a string, boolean or decimal integer (quote strings: "-0x10")`},
		{"dotted table", "[a.b]", "config file c.toml line 1: tables are not supported: write every setting as a top-level key = value"},
		{"literal quoted key", "'x' = 1", "config file c.toml line 1: quoted keys are not supported"},
		{"non-ASCII key", "é = 1", "config file c.toml line 1: invalid character at start of key: U+00C3 'Ã'"},
		{"multi-line string over lines", "a = 1\nx = \"\"\"\nb\"\"\"\n", "config file c.toml line 2: x: multi-line strings are not supported"},
		{"array over lines", "x = [\n1,\n]", "config file c.toml line 1: x: arrays are not supported"},
		{"inline table over lines", "x = {\n}", "config file c.toml line 1: x: inline tables are not supported"},
		{"key after comments and blank lines", "a = 1 # c\n\n  # c\n  b = nope # c\n", `config file c.toml line 4: b: nope is not a string, boolean or decimal integer (quote strings: "nope")`},
		{"unquoted value after the key's line", "x =\nnope", `config file c.toml line 1: x: missing value`},
		// Inside an unterminated multi-line value a line may look like
		// key = value: the error is the setting's, on the setting's line, and
		// shows none of the value, which may be a secret.
		{"error inside a multi-line string", "passphrase = \"\"\"\nsecret = hunter2", `config file c.toml line 1: passphrase: line 2: multiline basic string not terminated by """`},
		{"error inside an array", "# c\npassphrase = [\n  \"a\",\n  secret = hunter2\n]", "config file c.toml line 2: passphrase: line 4: unexpected character U+0073 's' at start of value"},
		{"control character as the value", "x = \x01", "config file c.toml line 1: x: unexpected character U+0001 at start of value"},
		{"control character in a comment", "x = 1 # a\x7f", "config file c.toml line 1: x: control characters are not allowed in comments"},
		{"lone carriage return", "x = 1\r", "config file c.toml line 1: x: expected newline but got U+000D"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := Parse("c.toml", []byte(tc.src))
			if err == nil || err.Error() != tc.want {
				t.Fatalf("error = %v\nwant    %s", err, tc.want)
			}
			if !errors.Is(err, ErrSyntax) {
				t.Errorf("%v is not ErrSyntax", err)
			}
			if cfgErr, ok := errors.AsType[*Error](err); !ok || !strings.HasPrefix(cfgErr.Source, "config file c.toml") {
				t.Errorf("%v: not an *Error naming the file", err)
			}
		})
	}
}

// TestParseTOML11Escapes: go-toml takes TOML 1.1's \e and \xHH escapes,
// which the hand-written parser refused; they decode to what they say.
func TestParseTOML11Escapes(t *testing.T) {
	t.Parallel()
	f, err := Parse("c.toml", []byte(`x = "\e[0m\x41\xe9"`))
	if err != nil {
		t.Fatal(err)
	}
	if want := (Value{Key: "x", Kind: String, Text: "\x1b[0mA\u00e9", Raw: `"\e[0m\x41\xe9"`, Line: 1}); len(f.Values) != 1 || f.Values[0] != want {
		t.Fatalf("got %+v, want %+v", f.Values, want)
	}
}

// TestParseManySettings: lines are counted once over the file, not from the
// start for every setting, so a file of MaxFileSize is quick to read.
func TestParseManySettings(t *testing.T) {
	t.Parallel()
	var b strings.Builder
	n := 0
	for ; b.Len() < MaxFileSize-64; n++ {
		fmt.Fprintf(&b, "# %d\nk%d = %d\n", n, n, n)
	}
	f, err := Parse("c.toml", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	last := f.Values[len(f.Values)-1]
	if len(f.Values) != n || last.Key != fmt.Sprintf("k%d", n-1) || last.Line != 2*n {
		t.Fatalf("%d values, last %+v; want %d, line %d", len(f.Values), last, n, 2*n)
	}
}

func TestLoad(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "c.toml")
	writeFile(t, path, "listen = \"127.0.0.1:1\"\n")
	if f, err := Load(path); err != nil || f.Name != path || len(f.Values) != 1 {
		t.Fatalf("Load = %+v, %v", f, err)
	}
	if _, err := Load(filepath.Join(dir, "missing.toml")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	big := filepath.Join(dir, "big.toml")
	writeFile(t, big, strings.Repeat("#\n", MaxFileSize/2+1))
	if _, err := Load(big); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Errorf("big file: %v", err)
	}
}

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}
