package config

import (
	"errors"
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
		{"no equals", "listen \"x\"", "config file c.toml line 1: listen: expected = after the key"},
		{"no key", "= 1", `config file c.toml line 1: expected key = value, found "= 1"`},
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
		{"unterminated", `x = "abc`, "config file c.toml line 1: x: unterminated string"},
		{"unterminated escape", `x = "abc\`, "config file c.toml line 1: x: unterminated string"},
		{"unterminated literal", `x = 'abc`, "config file c.toml line 1: x: unterminated string"},
		{"bad escape", `x = "a\qb"`, `config file c.toml line 1: x: bad escape \q`},
		{"short unicode escape", `x = "\u12"`, `config file c.toml line 1: x: short \u escape`},
		{"surrogate escape", `x = "\ud800"`, `config file c.toml line 1: x: bad escape \ud800`},
		{"garbage after value", `x = "a" "b"`, `config file c.toml line 1: x: unexpected "\"b\"" after the value`},
		{"garbage after bool", `x = true false`, `config file c.toml line 1: x: unexpected "false" after the value`},
		{"control character", "x = \"a\x01b\"", "config file c.toml line 1: control character U+0001"},
		{"duplicate key", "x = 1\n# again\nx = 2\n", "config file c.toml line 3: x is already set on line 1"},
		{"not UTF-8", "x = \"\xff\"", "config file c.toml: not UTF-8 text"},
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
