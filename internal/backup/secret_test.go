package backup

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

func TestSecretsDoNotPrint(t *testing.T) {
	t.Parallel()
	_, m := sealed(t, 8)
	k, err := KeyFromWords(m)
	if err != nil {
		t.Fatal(err)
	}
	secrets := append(m.Words(), hex.EncodeToString(k.k[:]))
	type holder struct {
		m Mnemonic
		k Key
	}
	type exported struct {
		M Mnemonic
		K Key
	}
	values := []any{m, &m, k, &k, holder{m, k}, &holder{m, k}, exported{m, k}, []Mnemonic{m}, map[string]Key{"k": k}}
	var out strings.Builder
	for _, v := range values {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%x", "%X", "%d", "%q"} {
			fmt.Fprintf(&out, verb+"\n", v)
		}
		fmt.Fprintln(&out, v)
	}
	var logBuf bytes.Buffer
	log := slog.New(slog.NewJSONHandler(&logBuf, nil))
	log.Info("x", "m", m, "k", k, "h", holder{m, k})
	slog.New(slog.NewTextHandler(&logBuf, nil)).Info("x", "m", m, "k", k, "h", &holder{m, k})
	out.Write(logBuf.Bytes())
	text := out.String()
	// Only whole words are secrets; compare on word boundaries.
	fields := strings.FieldsFunc(text, func(r rune) bool { return !('a' <= r && r <= 'z' || '0' <= r && r <= '9') })
	for _, f := range fields {
		for _, s := range secrets[:WordCount] {
			if f == s {
				t.Fatalf("word %q printed in:\n%s", s, text)
			}
		}
	}
	if strings.Contains(text, secrets[WordCount]) || !strings.Contains(text, "REDACTED") {
		t.Fatalf("key printed or nothing redacted:\n%s", text)
	}
	for _, v := range []any{m, k, exported{m, k}} {
		if b, err := json.Marshal(v); err == nil {
			t.Fatalf("json.Marshal(%T) = %s", v, b)
		}
	}
}
