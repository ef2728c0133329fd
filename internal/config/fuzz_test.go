package config

import (
	"fmt"
	"strings"
	"testing"
)

// FuzzParse: Parse never panics, and what it accepts, written back as
// key = value lines, parses to the same values.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		"",
		"# c\nlisten = \"127.0.0.1:7400\" # x\n",
		"data = 'C:\\x'\nauto_approve = true\nn = -1_000\n",
		"s = \"\\u00e9\\U0001F600\\t\\\"\\\\\"\r\n",
		"[t]\n", "a.b = 1", "x = [1]", "x = \"\"\"a\"\"\"", "x = 1\nx = 2",
		"x = \"\"\"\nk = v\n", "x = [\n1,\n]", "x = 0x10\n", "x = \"\\e\\x41\"\n", "# c\n\n k = 1__0\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Parse("f.toml", data)
		if err != nil {
			return
		}
		var b strings.Builder
		seen := map[string]bool{}
		last := 0
		for _, v := range file.Values {
			if v.Line <= last || seen[v.Key] || v.Key == "" {
				t.Fatalf("bad line or key: %+v after line %d", v, last)
			}
			last, seen[v.Key] = v.Line, true
			text := v.Text
			if v.Kind == String {
				text = quoteTOML(v.Text)
			}
			fmt.Fprintf(&b, "%s = %s\n", v.Key, text)
		}
		again, err := Parse("f.toml", []byte(b.String()))
		if err != nil {
			t.Fatalf("re-parsing %q: %v", b.String(), err)
		}
		if len(again.Values) != len(file.Values) {
			t.Fatalf("%d values, then %d", len(file.Values), len(again.Values))
		}
		for i, v := range again.Values {
			w := file.Values[i]
			if v.Key != w.Key || v.Kind != w.Kind || v.Text != w.Text {
				t.Fatalf("value %d: %+v, then %+v", i, w, v)
			}
		}
	})
}

// quoteTOML writes s as a TOML basic string.
func quoteTOML(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, "\\u%04x", r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}
