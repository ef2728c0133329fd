// Package badgerlog routes Badger's warnings and errors to slog and drops its
// info and debug chatter (compactions, replays). The coordinator's store and
// the device keystore both use it.
package badgerlog

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// New returns Badger's logger writing to log, each line tagged with component.
func New(log *slog.Logger, component string) badger.Logger {
	return logger{log: log, component: component}
}

type logger struct {
	log       *slog.Logger
	component string
}

func (l logger) Errorf(f string, args ...any)   { l.emit(slog.LevelError, f, args) }
func (l logger) Warningf(f string, args ...any) { l.emit(slog.LevelWarn, f, args) }
func (logger) Infof(string, ...any)             {}
func (logger) Debugf(string, ...any)            {}

func (l logger) emit(level slog.Level, f string, args []any) {
	ctx := context.Background()
	if !l.log.Enabled(ctx, level) {
		return
	}
	msg := strings.TrimSpace(fmt.Sprintf(f, args...))
	l.log.Log(ctx, level, "badger: "+msg, slog.String("component", l.component))
}
