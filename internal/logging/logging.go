// Package logging builds the slog loggers of the three commands and keeps
// tss-lib's own global logger quiet.
package logging

import (
	"fmt"
	"io"
	"log/slog"
	"strings"

	golog "github.com/ipfs/go-log"
)

// New returns a logger writing text or JSON at level ("debug", "info", "warn", "error").
func New(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(strings.ToUpper(level))); err != nil {
		return nil, fmt.Errorf("unknown log level %q (debug, info, warn, error)", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	var h slog.Handler
	switch format {
	case "text", "":
		h = slog.NewTextHandler(w, opts)
	case "json":
		h = slog.NewJSONHandler(w, opts)
	default:
		return nil, fmt.Errorf("unknown log format %q (text, json)", format)
	}
	QuietTSSLib()
	return slog.New(h), nil
}

// QuietTSSLib turns tss-lib's global logger down to errors: its Info lines
// come for every round of every party.
func QuietTSSLib() {
	_ = golog.SetLogLevel("tss-lib", "error")
}
