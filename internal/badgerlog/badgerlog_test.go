package badgerlog

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

func TestRouting(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), "keystore")
	l.Infof("compaction %d\n", 1)
	l.Debugf("replay %d\n", 2)
	if buf.Len() != 0 {
		t.Fatalf("badger info/debug reached the logger: %s", buf.String())
	}
	l.Warningf("disk %s\n", "slow")
	l.Errorf("value log %s\n", "broken")
	out := buf.String()
	for _, want := range []string{"level=WARN", "badger: disk slow", "level=ERROR", "badger: value log broken", "component=keystore"} {
		if !strings.Contains(out, want) {
			t.Errorf("log output %q lacks %q", out, want)
		}
	}
}

func TestLevelFilter(t *testing.T) {
	var buf bytes.Buffer
	l := New(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelError})), "coordinator")
	l.Warningf("disk %s", "slow")
	if buf.Len() != 0 {
		t.Fatalf("a warning passed an error-level logger: %s", buf.String())
	}
	l.Errorf("broken")
	if !strings.Contains(buf.String(), "component=coordinator") {
		t.Fatalf("error line %q lacks its component", buf.String())
	}
}
