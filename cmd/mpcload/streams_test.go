package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"
)

// TestStreamsFlags: the flags are checked before anything starts.
func TestStreamsFlags(t *testing.T) {
	for args, want := range map[string]string{
		"--devices 0":  "--devices must be at least 1",
		"--dialers 0":  "--dialers must be at least 1",
		"--hold -1s":   "--hold cannot be negative",
		"--devices 1x": "invalid argument",
	} {
		cmd := newRootCmd(false)
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{"streams"}, strings.Fields(args)...))
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("mpcload streams %s: got %v, want an error saying %q", args, err, want)
		}
	}
}

// TestStreams runs 'mpcload streams' small: a real coordinator process
// built from this tree, 120 devices connected as device agents connect
// (more than ListDevices' page of 100, to count them online). The
// memory figures are printed, not bounded; that every stream was held, and
// that the figures were read, is checked.
func TestStreams(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var log bytes.Buffer
	cfg := streamsConfig{devices: 120, dialers: 8, hold: time.Second, dir: t.TempDir(), logLevel: "warn", logFormat: "text"}
	rep, err := runStreams(ctx, &log, cfg)
	if err != nil {
		t.Fatalf("streams: %v\n%s", err, log.String())
	}
	var text bytes.Buffer
	rep.print(&text)
	t.Logf("report:\n%s", text.String())

	if rep.Asked != 120 || rep.Opened != 120 || rep.Failed != 0 || rep.Connected != 120 || rep.Online != 120 || rep.Ended != 0 {
		t.Errorf("streams %+v; want all 120 opened, connected, online and held", rep)
	}
	for _, m := range []streamsMemory{rep.Idle, rep.Held} {
		if m.RSSKiB <= 0 || m.HWMKiB < m.RSSKiB || m.Goroutines <= 0 {
			t.Errorf("coordinator memory %+v", m)
		}
	}
	// Every stream costs the coordinator goroutines: a stream not held
	// would not.
	if rep.Held.Goroutines < rep.Idle.Goroutines+120 || rep.GoroutinesPerStream < 1 {
		t.Errorf("goroutines %d idle, %d with 120 streams (%v per stream); want at least one more per stream",
			rep.Idle.Goroutines, rep.Held.Goroutines, rep.GoroutinesPerStream)
	}
	if rep.OverallKiB <= 0 || rep.OverallPerGiB <= 0 || rep.ClientRSSKiB <= 0 {
		t.Errorf("derived figures %+v", rep)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings: %v", rep.Warnings)
	}
	checkJSON(t, rep, "asked", "connected", "online", "coordinator_idle", "coordinator_with_streams", "rss_per_stream_kib", "streams_per_gib", "projected_rss_10000_streams_mib")
	for _, s := range []string{"ListDevices shows 120 online", "per stream:", "streams per GiB", "10,000 streams:"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("the report does not say %q", s)
		}
	}
}
