// Package redacttest prints a value in every way a careless caller might,
// for tests that check a secret never shows (keystore, keystore/seal).
// Tests only.
package redacttest

import (
	"bytes"
	"fmt"
	"log/slog"
)

// Formats is v printed with every fmt verb a caller might use and through
// slog's text and JSON handlers, by how it was printed.
func Formats(v any) map[string]string {
	out := map[string]string{}
	for _, f := range []string{"%v", "%s", "%+v", "%#v", "%q", "%x", "%X", "%d"} {
		out[f] = fmt.Sprintf(f, v)
	}
	var buf bytes.Buffer
	slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", "secret", v)
	out["slog-text"] = buf.String()
	buf.Reset()
	slog.New(slog.NewJSONHandler(&buf, nil)).Info("msg", "secret", v)
	out["slog-json"] = buf.String()
	return out
}
