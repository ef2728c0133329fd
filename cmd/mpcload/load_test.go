package main

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoadFlags: the flags are checked before anything starts.
func TestLoadFlags(t *testing.T) {
	for args, want := range map[string]string{
		"--clients 0":                 "--clients must be 1 to 1024",
		"--parties 3 --threshold 3":   "--threshold 3 does not fit 3 parties",
		"--duration 0s":               "--duration must be positive",
		"--insecure-test-preparams /": "at most 0 parties",
	} {
		// The TEST-ONLY flag registered as a -tags testfixtures build
		// does.
		cmd := newRootCmd(true)
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(strings.Fields(args))
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("mpcload %s: got %v, want an error saying %q", args, err, want)
		}
	}
}

// TestLoad runs mpcload for a few seconds with tiny settings: real
// coordinator and party processes built from this tree, a 2-of-2 key, two
// clients, and the raw tss-lib baseline. Speed is not checked (that is what
// the command is for); the report's shape and the correctness figures are.
func TestLoad(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var log bytes.Buffer
	cfg := loadConfig{clients: 2, keys: 1, parties: 2, threshold: 1, duration: 3 * time.Second, rawDuration: 2 * time.Second,
		sample: 500 * time.Millisecond, fixtures: filepath.Join("..", "..", "testdata", "preparams"), dir: t.TempDir(), logLevel: "warn"}
	rep, err := runLoad(ctx, &log, cfg)
	if err != nil {
		t.Fatalf("load: %v\n%s", err, log.String())
	}
	var text bytes.Buffer
	rep.print(&text)
	t.Logf("report:\n%s", text.String())

	s := rep.Service
	if s.OK == 0 || s.Wrong != 0 || s.Calls != s.OK+s.Failed+s.Wrong || len(rep.ErrorsByCode) != 0 {
		t.Errorf("service: %+v, errors %v; want signatures, none wrong or failed", s, rep.ErrorsByCode)
	}
	if !(s.PerSecond > 0 && 0 < s.P50MS && s.P50MS <= s.P95MS && s.P95MS <= s.P99MS && s.P99MS <= s.MaxMS) {
		t.Errorf("service figures out of order: %+v", s)
	}
	if rep.Raw == nil || rep.Raw.OK == 0 || rep.Raw.Wrong != 0 || rep.Ratio <= 0 {
		t.Errorf("raw baseline %+v, ratio %v: want signatures, none wrong, and a ratio", rep.Raw, rep.Ratio)
	}
	if rep.Replay.Checked != s.OK || rep.Replay.Mismatched != 0 {
		t.Errorf("replay %+v: want all %d request ids asked again, each answered with its signature", rep.Replay, s.OK)
	}
	if rep.SessionsInFlight != 0 || rep.SignSessions["ok"] < s.OK {
		t.Errorf("sessions in flight after the run %d, signing sessions %v; want 0 and at least %d ok", rep.SessionsInFlight, rep.SignSessions, s.OK)
	}
	var names []string
	for _, p := range rep.Processes {
		names = append(names, p.Name)
		if p.PID == 0 || p.MemoryNotMeasured || p.PeakRSSKiB <= 0 || p.Samples < 2 || p.LastQuarterKiB <= 0 || p.LastQuarterKiB > p.PeakRSSKiB {
			t.Errorf("process figures %+v", p)
		}
	}
	if strings.Join(names, ",") != "coordinator,p1,p2" {
		t.Errorf("processes %v, want the coordinator and two parties", names)
	}
	if g := rep.CoordinatorGoroutines; g.Samples < 2 || g.Max < g.First || g.Max < g.Last || g.First <= 0 {
		t.Errorf("coordinator goroutines %+v", g)
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings: %v", rep.Warnings)
	}

	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(b, &fields); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"shape", "service", "raw_tss_lib", "ratio_service_to_raw", "errors_by_code", "replay", "processes", "coordinator_goroutines", "sessions_in_flight_after", "load_average_start"} {
		if _, ok := fields[f]; !ok {
			t.Errorf("the JSON report has no %q:\n%s", f, b)
		}
	}
	for _, want := range []string{"signatures in", "p50", "p95", "p99", "errors by code: none", "wrong signatures 0", "ratio service/raw", "peak", "sessions in flight after the run (stuck): 0"} {
		if !strings.Contains(text.String(), want) {
			t.Errorf("the report does not say %q", want)
		}
	}
}
