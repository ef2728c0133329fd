package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/mpcsign/mpcsign/internal/coordclient"
	"github.com/mpcsign/mpcsign/testkit"
)

// TestTokensCLI runs `mpcctl tokens create/list/revoke` against an
// in-process coordinator, and checks the created token is real: it
// authenticates, with the signer role only, until it is revoked.
func TestTokensCLI(t *testing.T) {
	c := testkit.New(t, testkit.Options{})
	dir := filepath.Join(c.Dir, "coordinator")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute) // against hanging only
	defer cancel()
	if err := coordclient.WaitConfig(ctx, dir); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) (string, string, error) {
		t.Helper()
		var out, errw bytes.Buffer
		root := newRootCmd()
		root.SetArgs(append([]string{"--coordinator-dir", dir}, args...))
		root.SetOut(&out)
		root.SetErr(&errw)
		err := root.ExecuteContext(ctx)
		return out.String(), errw.String(), err
	}

	out, errOut, err := run("tokens", "create", "--role", "signer", "--name", "wallet-1")
	if err != nil {
		t.Fatalf("tokens create: %v\n%s", err, errOut)
	}
	token := strings.TrimSpace(out)
	if token == "" || strings.Contains(token, "\n") || !strings.Contains(errOut, `created signer token "wallet-1"`) {
		t.Fatalf("tokens create printed %q, %q", out, errOut)
	}
	tokenFile := filepath.Join(t.TempDir(), "wallet.token")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	type info struct {
		ID, Name, Role string
		Revoked        bool
	}
	list := func() map[string]info {
		t.Helper()
		out, errOut, err := run("--json", "tokens", "list")
		if err != nil {
			t.Fatalf("tokens list: %v\n%s", err, errOut)
		}
		var got []info
		if err := json.Unmarshal([]byte(out), &got); err != nil {
			t.Fatalf("tokens list --json: %v\n%s", err, out)
		}
		byName := map[string]info{}
		for _, i := range got {
			byName[i.Name] = i
		}
		if strings.Contains(out, token) {
			t.Fatal("tokens list shows a token itself")
		}
		return byName
	}
	w, ok := list()["wallet-1"]
	if !ok || w.Role != "signer" || w.Revoked || w.ID == "" {
		t.Fatalf("tokens list: wallet-1 is %+v (listed %v)", w, ok)
	}
	// The text listing names it too.
	if out, _, err := run("tokens", "list"); err != nil || !strings.Contains(out, w.ID) || !strings.Contains(out, "wallet-1") {
		t.Fatalf("tokens list (text): %v\n%s", err, out)
	}

	// The new token authenticates, as a signer: an admin call is refused
	// as not permitted, not as unauthenticated.
	if _, _, err := run("--token-file", tokenFile, "tokens", "list"); status.Code(err) != codes.PermissionDenied {
		t.Fatalf("admin call with the signer token: want PermissionDenied, got %v", err)
	}

	out, errOut, err = run("tokens", "revoke", w.ID)
	if err != nil || !strings.Contains(out, "token "+w.ID+` ("wallet-1") revoked`) {
		t.Fatalf("tokens revoke: %v\n%s%s", err, out, errOut)
	}
	if w := list()["wallet-1"]; !w.Revoked {
		t.Fatalf("after revoke: %+v", w)
	}
	if _, _, err := run("--token-file", tokenFile, "tokens", "list"); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("call with the revoked token: want Unauthenticated, got %v", err)
	}

	if _, _, err := run("tokens", "create", "--role", "root", "--name", "x"); err == nil || !strings.Contains(err.Error(), "--role must be signer or admin") {
		t.Fatalf("tokens create --role root: %v", err)
	}
	if _, _, err := run("tokens", "revoke", "no-such-id"); status.Code(err) != codes.NotFound {
		t.Fatalf("tokens revoke of an unknown id: want NotFound, got %v", err)
	}
}
