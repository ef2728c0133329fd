package main

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/coordinator/registry"
	"github.com/mpcsign/mpcsign/coordinator/registry/postgres"
	"github.com/mpcsign/mpcsign/coordinator/registry/postgres/pgtest"
)

// TestStoreFlags: the flags are checked before anything starts.
func TestStoreFlags(t *testing.T) {
	for args, want := range map[string]string{
		"--keys -1":                       "cannot be negative",
		"--keys 5 --devices 2":            "--devices must be at least 3",
		"--repeat 0":                      "--repeat and --list-repeat must be at least 1",
		"--store mysql://db/x":            "want a postgres:// URL",
		"--store postgres://u:pw@db/load": "the URL holds a password",
	} {
		cmd := newRootCmd(false)
		var out bytes.Buffer
		cmd.SetOut(&out)
		cmd.SetErr(&out)
		cmd.SetArgs(append([]string{"store"}, strings.Fields(args)...))
		if err := cmd.Execute(); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("mpcload store %s: got %v, want an error saying %q", args, err, want)
		}
	}
}

// TestStore runs 'mpcload store' small, on a throwaway PostgreSQL server,
// with a real coordinator process built from this tree. Times are printed,
// not checked; what the coordinator answered and the chain are.
func TestStore(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	var log bytes.Buffer
	// More keys and devices than a page of 100.
	cfg := storeConfig{keys: 150, devices: 120, audit: 500, repeat: 3, listRepeat: 2, dir: t.TempDir(), logLevel: "warn", logFormat: "text"}
	rep, err := runStore(ctx, &log, cfg)
	if err != nil {
		t.Fatalf("store: %v\n%s", err, log.String())
	}
	var text bytes.Buffer
	rep.print(&text)
	t.Logf("report:\n%s", text.String())

	if want := (storeShape{Keys: 150, Devices: 120, Audit: 500}); rep.Stored != want || rep.Asked != want || rep.DatabaseMiB <= 0 {
		t.Errorf("stored %+v of %+v (%v MiB); want %+v", rep.Stored, rep.Asked, rep.DatabaseMiB, want)
	}
	// The chain holds what was written and the 3+3 appends, and verifies.
	if a := rep.Audit; !a.OK || a.Verified != 506 || a.Height != 506 || len(a.Head) != 64 || !a.DirectAppendKept {
		t.Errorf("audit chain %+v; want 506 entries verified, the store's direct appends among them", a)
	}
	items := map[string]int{}
	for _, c := range rep.Calls {
		name, _, _ := strings.Cut(c.Name, " (")
		items[name] = c.Items
		if c.Repeats < 1 || !(0 < c.MinMS && c.MinMS <= c.MedianMS && c.MedianMS <= c.MaxMS) {
			t.Errorf("call figures out of order: %+v", c)
		}
	}
	// 150 keys of three holders over 120 devices: each device holds 3 or
	// 4, all of them in its KeySync.
	if n := items["device connect"]; n != 3 && n != 4 {
		t.Errorf("a device's KeySync had %d keys, want 3 or 4", n)
	}
	items["device connect"] = 0
	// The listings' first page: 100 of 150 keys, 100 of 120 devices.
	want := map[string]int{"GetKey": 1, "SetDerivationOnly": 1, "store AppendAudit": 1, "device connect": 0, "ListKeys": 100, "ListDevices": 100}
	if len(items) != len(want) {
		t.Errorf("calls measured %v; want %v", items, want)
	}
	for name, n := range want {
		if items[name] != n {
			t.Errorf("%s answered %d items, want %d", name, items[name], n)
		}
	}
	// The coordinator read the bulk records: a key's holders by name.
	k := rep.KeyAnswer
	if len(k.Holders) != 3 || !strings.HasPrefix(k.Holders[0], "dev-") || k.Attestations != 3 || !strings.HasPrefix(k.Ethereum, "0x") {
		t.Errorf("GetKey answered %+v; want three holders named dev-..., three attestations, an address", k)
	}
	if len(rep.Memory) != 4 {
		t.Errorf("memory read %d times, want 4: %+v", len(rep.Memory), rep.Memory)
	}
	for _, p := range rep.Memory {
		if p.RSSKiB <= 0 || p.AnonKiB <= 0 || p.HWMKiB < p.RSSKiB || p.HeapKiB <= 0 {
			t.Errorf("memory %+v", p)
		}
	}
	if len(rep.Warnings) != 0 {
		t.Errorf("warnings: %v", rep.Warnings)
	}
	checkJSON(t, rep, "asked", "stored", "fill", "calls", "audit_chain", "coordinator_memory", "get_key_answer", "load_average_start")
	for _, s := range []string{"stored: 150 keys, 120 devices, 500 audit entries", "ListKeys", "chain intact", "idle after start", "VmHWM"} {
		if !strings.Contains(text.String(), s) {
			t.Errorf("the report does not say %q", s)
		}
	}
}

// TestStoreRefusesNonEmpty: --store names a database that holds records:
// nothing is written to it and nothing starts.
func TestStoreRefusesNonEmpty(t *testing.T) {
	srv, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	name, err := srv.CreateDB()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	b, err := postgres.OpenBulk(ctx, srv.DSN(name))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if err := b.PutDevices(ctx, 1, func(int) (registry.Device, error) { return registry.Device{ID: "d1", Name: "one"}, nil }); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	_, err = runStore(ctx, &log, storeConfig{keys: 5, devices: 5, audit: 5, repeat: 1, listRepeat: 1, store: srv.URL(name), dir: t.TempDir()})
	if err == nil || !strings.Contains(err.Error(), "the database is not empty (0 keys, 1 devices") {
		t.Fatalf("got %v, want the database refused as not empty", err)
	}
	if c, err := b.Counts(ctx); err != nil || c.Devices != 1 || c.Keys != 0 || c.Audit != 0 {
		t.Errorf("counts %+v, %v; want the one device only", c, err)
	}
}

// checkJSON checks the JSON report has the fields.
func checkJSON(t *testing.T, rep any, fields ...string) {
	t.Helper()
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	var got map[string]any
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	for _, f := range fields {
		if _, ok := got[f]; !ok {
			t.Errorf("the JSON report has no %q:\n%s", f, b)
		}
	}
}
