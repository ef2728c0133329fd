package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/testkit"
)

// A device enrolled before the roster pins it with 'party pin-roster'; its
// status says what it pins, and it never takes another genesis.
func TestPinRosterCommand(t *testing.T) {
	c := testkit.New(t, testkit.Options{AutoApprove: true})
	d := c.AddDevice(t, "old", nil)
	c.StopDevice(t, "old")
	if err := d.Store.Close(); err != nil {
		t.Fatal(err)
	}
	pass := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(pass, []byte("test passphrase old\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	store := []string{"--data", d.Dir, "--passphrase-file", pass}
	run := func(args ...string) (string, error) {
		var out bytes.Buffer
		_, err := runParty(t, strings.NewReader(""), &out, append(args, store...)...)
		return out.String(), err
	}
	if out, err := run("status"); err != nil || !strings.Contains(out, "roster: none pinned") {
		t.Fatalf("status before: %v\n%s", err, out)
	}
	genesis := c.StartRoster(t, testkit.NewOperator("alice")).String()
	if _, err := run("pin-roster", "--genesis", "xyz"); err == nil {
		t.Fatal("a malformed genesis was pinned")
	}
	out, err := run("pin-roster", "--genesis", genesis)
	if err != nil || !strings.Contains(out, "pins roster genesis "+genesis) || !strings.Contains(out, "mpcctl roster add-device old --device-id ") {
		t.Fatalf("pin-roster: %v\n%s", err, out)
	}
	if out, err := run("status"); err != nil || !strings.Contains(out, "roster: genesis "+genesis) {
		t.Fatalf("status after: %v\n%s", err, out)
	}
	other := strings.Repeat("ab", 32)
	if _, err := run("pin-roster", "--genesis", other); err == nil || !strings.Contains(err.Error(), "never changes roster") {
		t.Fatalf("pinning another genesis: %v", err)
	}
}
