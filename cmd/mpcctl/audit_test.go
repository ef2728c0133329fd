package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// TestAuditVerifyStartAndHead: 'audit verify' names the first and last seq
// and the head; it refuses an export missing its first entries or holding
// a line that is not the log's encoding of its entry, checks a partial
// export only from where it is said to start, and with --expect-head
// refuses an export that does not hold the head kept from an earlier check.
func TestAuditVerifyStartAndHead(t *testing.T) {
	e := newRosterEnv(t)
	for i := range 6 {
		if _, err := e.c.Admin.CreateToken(e.ctx, &mpcv1.CreateTokenRequest{Role: mpcv1.TokenRole_TOKEN_ROLE_SIGNER, Name: fmt.Sprintf("t%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "audit.jsonl")
	e.mustRun("audit", "export", "--out", file)
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	lines = lines[:len(lines)-1] // after the last newline
	n := len(lines)
	entries := make([]auditlog.Entry, n)
	for i, l := range lines {
		if err := json.Unmarshal([]byte(l), &entries[i]); err != nil {
			t.Fatal(err)
		}
	}
	if n < 6 || entries[0].Seq != 1 || entries[n-1].Seq != uint64(n) {
		t.Fatalf("the export: %d entries, seq %d to %d", n, entries[0].Seq, entries[n-1].Seq)
	}
	head := auditlog.Head{Seq: uint64(n), Hash: entries[n-1].Hash}
	write := func(name string, ls []string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(strings.Join(ls, "")), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	fails := func(want string, args ...string) {
		t.Helper()
		out, errOut, err := e.run(append([]string{"audit", "verify"}, args...)...)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Fatalf("verify %s: want an error with %q, got %v\n%s%s", strings.Join(args, " "), want, err, out, errOut)
		}
	}

	// The whole log: the success line names the first and last seq and
	// the head, as --expect-head takes it.
	want := fmt.Sprintf("verified %d entries, seq 1 to %d; chain intact from the log's first entry; head %s\n", n, n, head)
	if out := e.mustRun("audit", "verify", file); out != want {
		t.Fatalf("verify:\n got %q\nwant %q", out, want)
	}
	var res map[string]any
	if err := json.Unmarshal([]byte(e.mustRun("--json", "audit", "verify", file)), &res); err != nil ||
		res["ok"] != true || res["first_seq"] != 1.0 || res["last_seq"] != float64(n) || res["head"] != head.Hash {
		t.Fatalf("verify --json: %v %v", res, err)
	}

	// A line Go reads as the sealed entry but jq and a reader as another
	// (keys that differ in case: Go takes the last).
	forged := append([]string(nil), lines...)
	forged[2] = strings.TrimSuffix(strings.Replace(lines[2], `"result":"ok"`, `"result":"failed"`, 1), "}\n") + `,"Result":"ok"}` + "\n"
	if forged[2] == lines[2] {
		t.Fatalf("entry 3 has no result ok: %s", lines[2])
	}
	fails("entry 3 (line 3, seq 3): not in the log's canonical form", write("forged.jsonl", forged))

	// Line 1 deleted: refused at line 1, with how to check a partial export.
	noFirst := write("no-first.jsonl", lines[1:])
	fails("broken at entry 1 (line 1, seq 2): the export starts at seq 2, not at the log's first entry", noFirst)
	fails("--since 2 --prev", noFirst)
	// Said where it starts, it verifies; only with the hash of entry 1.
	prev1 := entries[0].Hash
	want = fmt.Sprintf("verified %d entries, seq 2 to %d; chain intact from the hash given for entry 1; head %s\n", n-1, n, head)
	if out := e.mustRun("audit", "verify", noFirst, "--since", "2", "--prev", prev1); out != want {
		t.Fatalf("verify --since 2:\n got %q\nwant %q", out, want)
	}
	fails("give --prev with the hash of entry 1", noFirst, "--since", "2")
	fails("does not chain to the hash given for entry 1", noFirst, "--since", "2", "--prev", entries[1].Hash)
	fails("starts at seq 2, not at seq 3 as given", noFirst, "--since", "3", "--prev", prev1)

	// --expect-head: the head kept earlier must be in the export.
	out := e.mustRun("audit", "verify", file, "--expect-head", head.String())
	if !strings.Contains(out, "seq 1 to "+fmt.Sprint(n)) || !strings.Contains(out, "holds the expected head "+head.String()) {
		t.Fatalf("verify --expect-head: %s", out)
	}
	mid := auditlog.Head{Seq: 4, Hash: entries[3].Hash}
	e.mustRun("audit", "verify", noFirst, "--since", "2", "--prev", prev1, "--expect-head", mid.String())
	truncated := write("truncated.jsonl", lines[:n-2])
	if out := e.mustRun("audit", "verify", truncated); !strings.Contains(out, fmt.Sprintf("seq 1 to %d;", n-2)) {
		t.Fatalf("a truncated export verifies on its own, up to where it stops: %s", out)
	}
	fails(fmt.Sprintf("does not hold the expected head %s: the export ends at seq %d", head, n-2), truncated, "--expect-head", head.String())
	other := auditlog.Head{Seq: 4, Hash: entries[4].Hash}
	fails("broken at entry 4 (line 4, seq 4): its hash is", file, "--expect-head", other.String())
	fails("--expect-head", file, "--expect-head", "4")
	fails("holds no audit entries", write("empty.jsonl", nil))
}
