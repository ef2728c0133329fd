package keystore

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestBadgerLoggerRouting(t *testing.T) {
	var buf bytes.Buffer
	l := badgerLogger{log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	l.Infof("compaction %d\n", 1)
	l.Debugf("replay %d\n", 2)
	if buf.Len() != 0 {
		t.Fatalf("badger info/debug reached the logger: %s", buf.String())
	}
	l.Warningf("disk %s\n", "slow")
	l.Errorf("value log %s\n", "broken")
	out := buf.String()
	for _, want := range []string{"level=WARN", "badger: disk slow", "level=ERROR", "badger: value log broken"} {
		if !strings.Contains(out, want) {
			t.Errorf("log output %q lacks %q", out, want)
		}
	}
}

func TestIsLockError(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{errors.New(`Cannot acquire directory lock on "/d".  Another process is using this Badger database. err: resource temporarily unavailable`), true},
		{errors.New("Manifest has bad magic"), false},
	}
	for _, tt := range tests {
		if got := isLockError(tt.err); got != tt.want {
			t.Errorf("isLockError(%q) = %v, want %v", tt.err, got, tt.want)
		}
	}
}
