package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// TestAuditExportEveryPage: 'audit export' fetches every page of a log
// longer than one page, so 'audit verify' checks the whole chain; --since
// and --limit bound it.
func TestAuditExportEveryPage(t *testing.T) {
	e := newRosterEnv(t)
	const tokens = auditPage + 5 // each one an audit entry
	for i := range tokens {
		if _, err := e.c.Admin.CreateToken(e.ctx, &mpcv1.CreateTokenRequest{Role: mpcv1.TokenRole_TOKEN_ROLE_SIGNER, Name: fmt.Sprintf("t%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	first, err := e.c.Admin.ExportAudit(e.ctx, &mpcv1.ExportAuditRequest{})
	if err != nil || first.GetNextPageToken() == "" {
		t.Fatalf("the log fits one page: %d entries, %v", len(first.GetEntries()), err)
	}
	height := int(first.GetHeight())
	file := filepath.Join(t.TempDir(), "audit.jsonl")
	_, errOut, err := e.run("audit", "export", "--out", file)
	if err != nil || !strings.Contains(errOut, fmt.Sprintf("wrote %d entries", height)) {
		t.Fatalf("export of %d entries: %q %v", height, errOut, err)
	}
	if out := e.mustRun("audit", "verify", file); !strings.Contains(out, fmt.Sprintf("verified %d entries, seq 1 to %d; chain intact", height, height)) {
		t.Fatalf("verify: %s", out)
	}
	lines := func(args ...string) []string {
		t.Helper()
		return strings.Split(strings.TrimSpace(e.mustRun(append([]string{"audit", "export"}, args...)...)), "\n")
	}
	if got := lines("--limit", "3"); len(got) != 3 || !strings.Contains(got[0], `"seq":1,`) {
		t.Fatalf("--limit 3: %d lines, the first %.60s", len(got), got[0])
	}
	if got := lines("--since", "1000", "--limit", "1500"); len(got) != height-999 || !strings.Contains(got[0], `"seq":1000,`) {
		t.Fatalf("--since 1000: %d lines, want %d", len(got), height-999)
	}
	if _, _, err := e.run("audit", "export", "--limit", "-1"); err == nil || !strings.Contains(err.Error(), "give 0 for every entry") {
		t.Fatalf("--limit -1: %v", err)
	}
	if _, _, err := e.run("keys", "list", "--limit", "-2"); err == nil || !strings.Contains(err.Error(), "give 0 for every key") {
		t.Fatalf("keys list --limit -2: %v", err)
	}
	if b, err := os.ReadFile(file); err != nil || strings.Count(string(b), "\n") != height {
		t.Fatalf("the file holds %d lines, want %d: %v", strings.Count(string(b), "\n"), height, err)
	}
}
