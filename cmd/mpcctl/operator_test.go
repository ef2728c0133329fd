package main

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"encoding/hex"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/keystore"
	"github.com/mpcsign/mpcsign/testkit"
)

const testOperatorPassphrase = "operator passphrase 1"

// useTestOperatorKDF makes new operator key files cheap to create for the
// rest of the test. Tests that call it must not run in parallel.
func useTestOperatorKDF(t *testing.T) {
	t.Helper()
	old := operatorKDF
	operatorKDF = testkit.TestKDF
	t.Cleanup(func() { operatorKDF = old })
}

// runOperatorCLI runs mpcctl with args and returns its stdout and stderr. The
// coordinator flags point at nothing: operator commands must not need one.
func runOperatorCLI(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errw bytes.Buffer
	root := newRootCmd()
	root.SetArgs(append([]string{"--coordinator-dir", filepath.Join(t.TempDir(), "none"), "--coordinator", "127.0.0.1:1"}, args...))
	root.SetOut(&out)
	root.SetErr(&errw)
	err := root.ExecuteContext(context.Background())
	return out.String(), errw.String(), err
}

func TestOperatorInitShowLoad(t *testing.T) {
	useTestOperatorKDF(t)
	t.Setenv(operatorPassphraseEnv, testOperatorPassphrase)
	dir := filepath.Join(t.TempDir(), "op") // created by init

	out, errOut, err := runOperatorCLI(t, "operator", "init", "--name", "alice", "--operator-dir", dir)
	if err != nil {
		t.Fatalf("operator init: %v\n%s", err, errOut)
	}
	path := filepath.Join(dir, "operator.key")
	_, name, pub, err := keyfile.ReadPublic(path)
	if err != nil || name != "alice" {
		t.Fatalf("key file: %q, %v", name, err)
	}
	for _, want := range []string{"alice", hex.EncodeToString(pub), keyfile.Fingerprint(pub),
		"Give the public key to whoever creates the roster: mpcctl roster init"} {
		if !strings.Contains(out, want) {
			t.Errorf("operator init output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out+errOut, testOperatorPassphrase) {
		t.Error("operator init prints the passphrase")
	}
	if runtime.GOOS != "windows" {
		for p, want := range map[string]os.FileMode{path: 0o600, dir: 0o700} {
			if fi, err := os.Stat(p); err != nil || fi.Mode().Perm() != want {
				t.Errorf("%s: mode %v (%v), want %v", p, fi.Mode().Perm(), err, want)
			}
		}
	}

	// show needs no passphrase.
	t.Setenv(operatorPassphraseEnv, "")
	out, errOut, err = runOperatorCLI(t, "operator", "show", "--operator-dir", dir)
	if err != nil {
		t.Fatalf("operator show: %v\n%s", err, errOut)
	}
	for _, want := range []string{"operator", "alice", hex.EncodeToString(pub), keyfile.Fingerprint(pub)} {
		if !strings.Contains(out, want) {
			t.Errorf("operator show output lacks %q:\n%s", want, out)
		}
	}
	out, errOut, err = runOperatorCLI(t, "--json", "operator", "show", "--operator-dir", dir)
	if err != nil {
		t.Fatalf("operator show --json: %v\n%s", err, errOut)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("operator show --json: %v\n%s", err, out)
	}
	if got["kind"] != "operator" || got["name"] != "alice" || got["public_key"] != hex.EncodeToString(pub) ||
		got["fingerprint"] != keyfile.Fingerprint(pub) || got["path"] != path {
		t.Fatalf("operator show --json: %s", out)
	}

	// load, from a passphrase file and from the environment.
	passFile := filepath.Join(t.TempDir(), "pass")
	if err := os.WriteFile(passFile, []byte(testOperatorPassphrase+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	o := &operatorFlags{dir: dir, passphraseFile: passFile}
	k, err := o.load()
	if err != nil {
		t.Fatal(err)
	}
	if !k.PublicKey().Equal(pub) || k.Name() != "alice" || k.Kind() != keyfile.KindOperator {
		t.Fatalf("load: %v %x", k, k.PublicKey())
	}
	if msg := []byte("m"); !ed25519.Verify(pub, msg, k.Sign(msg)) {
		t.Fatal("loaded key does not sign for its public key")
	}
	t.Setenv(operatorPassphraseEnv, testOperatorPassphrase)
	if _, err := (&operatorFlags{dir: dir}).load(); err != nil {
		t.Fatalf("load with %s: %v", operatorPassphraseEnv, err)
	}
}

func TestOperatorInitJSON(t *testing.T) {
	useTestOperatorKDF(t)
	t.Setenv(operatorPassphraseEnv, testOperatorPassphrase)
	dir := t.TempDir()
	out, errOut, err := runOperatorCLI(t, "--json", "operator", "init", "--name", "bob", "--operator-dir", dir)
	if err != nil {
		t.Fatalf("operator init --json: %v\n%s", err, errOut)
	}
	var got map[string]string
	if err := json.Unmarshal([]byte(out), &got); err != nil {
		t.Fatalf("operator init --json prints no JSON object: %v\n%s", err, out)
	}
	pub, err := hex.DecodeString(got["public_key"])
	if err != nil || len(pub) != ed25519.PublicKeySize || got["fingerprint"] != keyfile.Fingerprint(pub) ||
		got["name"] != "bob" || got["kind"] != "operator" {
		t.Fatalf("operator init --json: %s", out)
	}
	if !strings.Contains(errOut, "mpcctl roster init") {
		t.Errorf("operator init --json: stderr %q lacks the hint", errOut)
	}
}

func TestOperatorInitRefuses(t *testing.T) {
	useTestOperatorKDF(t)
	tmp := t.TempDir()
	writeFile := func(name, content string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	existing := filepath.Join(tmp, "existing")
	t.Setenv(operatorPassphraseEnv, testOperatorPassphrase)
	if _, errOut, err := runOperatorCLI(t, "operator", "init", "--name", "alice", "--operator-dir", existing); err != nil {
		t.Fatalf("operator init: %v\n%s", err, errOut)
	}
	before, _ := os.ReadFile(filepath.Join(existing, "operator.key"))

	tests := []struct {
		name string
		env  string // MPC_OPERATOR_PASSPHRASE
		args []string
		want []string // in the error
	}{
		{"no passphrase", "", nil, []string{"--passphrase-file", operatorPassphraseEnv}},
		{"empty passphrase file", "", []string{"--passphrase-file", writeFile("empty", "\n")}, []string{"empty"}},
		{"missing passphrase file", "", []string{"--passphrase-file", filepath.Join(tmp, "nope")}, []string{"does not exist"}},
		{"short passphrase", "elevenchars", nil, []string{"11 characters", "at least 12"}},
		{"short passphrase file", "", []string{"--passphrase-file", writeFile("short", "short\n")}, []string{"5 characters", "at least 12"}},
		{"existing key", testOperatorPassphrase, []string{"--operator-dir", existing}, []string{"already exists", "--operator-dir", "remove"}},
		{"bad name", testOperatorPassphrase, []string{"--name", "a\nb"}, []string{"--name"}},
		{"no name", testOperatorPassphrase, []string{"--name="}, []string{"name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv(operatorPassphraseEnv, tt.env)
			dir := filepath.Join(t.TempDir(), "op")
			args := append([]string{"operator", "init", "--name", "alice", "--operator-dir", dir}, tt.args...)
			_, _, err := runOperatorCLI(t, args...)
			if err == nil {
				t.Fatal("operator init succeeded")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if tt.env != "" && strings.Contains(err.Error(), tt.env) {
				t.Errorf("error %q shows the passphrase", err)
			}
			if _, err := os.Stat(filepath.Join(dir, "operator.key")); err == nil {
				t.Error("a key file was written")
			}
		})
	}
	if after, _ := os.ReadFile(filepath.Join(existing, "operator.key")); !bytes.Equal(before, after) {
		t.Fatal("the existing key file changed")
	}
	if _, _, err := runOperatorCLI(t, "operator", "init", "--operator-dir", filepath.Join(tmp, "x")); err == nil {
		t.Fatal("operator init without --name succeeded")
	}
}

func TestOperatorLoadErrors(t *testing.T) {
	useTestOperatorKDF(t)
	t.Setenv(operatorPassphraseEnv, testOperatorPassphrase)
	dir := t.TempDir()

	// Missing file: says how to make one, before asking for a passphrase.
	t.Setenv(operatorPassphraseEnv, "")
	_, err := (&operatorFlags{dir: dir}).load()
	if !errors.Is(err, keyfile.ErrNotFound) || !strings.Contains(err.Error(), "mpcctl operator init") {
		t.Fatalf("load of a missing key: %v", err)
	}
	_, _, err = runOperatorCLI(t, "operator", "show", "--operator-dir", dir)
	if !errors.Is(err, keyfile.ErrNotFound) || !strings.Contains(err.Error(), "mpcctl operator init") {
		t.Fatalf("show of a missing key: %v", err)
	}

	t.Setenv(operatorPassphraseEnv, testOperatorPassphrase)
	if _, errOut, err := runOperatorCLI(t, "operator", "init", "--name", "alice", "--operator-dir", dir); err != nil {
		t.Fatalf("operator init: %v\n%s", err, errOut)
	}
	t.Setenv(operatorPassphraseEnv, "wrong passphrase 1")
	_, err = (&operatorFlags{dir: dir}).load()
	if !errors.Is(err, keystore.ErrWrongPassphrase) || !strings.Contains(err.Error(), operatorPassphraseEnv) ||
		strings.Contains(err.Error(), "wrong passphrase 1") {
		t.Fatalf("load with a wrong passphrase: %v", err)
	}
	t.Setenv(operatorPassphraseEnv, "")
	if _, err := (&operatorFlags{dir: dir}).load(); err == nil || !strings.Contains(err.Error(), operatorPassphraseEnv) {
		t.Fatalf("load without a passphrase: %v", err)
	}

	// A requester's key where the operator's is expected.
	reqDir := t.TempDir()
	k, err := keyfile.Generate(keyfile.KindRequester, "wallet")
	if err != nil {
		t.Fatal(err)
	}
	if err := keyfile.Write(filepath.Join(reqDir, "operator.key"), k, keystore.NewPassphrase([]byte(testOperatorPassphrase)), testkit.TestKDF); err != nil {
		t.Fatal(err)
	}
	t.Setenv(operatorPassphraseEnv, testOperatorPassphrase)
	if _, err := (&operatorFlags{dir: reqDir}).load(); err == nil || !strings.Contains(err.Error(), "not an operator key") {
		t.Fatalf("load of a requester key: %v", err)
	}
}

func TestOperatorFlags(t *testing.T) {
	t.Setenv("MPC_HOME", "/srv/mpc")
	cmd, _, err := newRootCmd().Find([]string{"operator", "init"})
	if err != nil {
		t.Fatal(err)
	}
	f := cmd.Flags().Lookup("operator-dir")
	if f == nil || f.DefValue != filepath.Join("/srv/mpc", "operator") {
		t.Fatalf("--operator-dir: %+v", f)
	}
	if cmd.Flags().Lookup("passphrase-file") == nil {
		t.Fatal("operator init has no --passphrase-file")
	}
	show, _, err := newRootCmd().Find([]string{"operator", "show"})
	if err != nil {
		t.Fatal(err)
	}
	if show.Flags().Lookup("passphrase-file") != nil {
		t.Fatal("operator show takes a --passphrase-file it does not need")
	}
	if (&operatorFlags{dir: "/x"}).path() != filepath.Join("/x", "operator.key") {
		t.Fatal("path")
	}
	if operatorKDF != keystore.DefaultKDF() {
		t.Fatalf("operatorKDF = %+v outside a test that sets it, want DefaultKDF()", operatorKDF)
	}
}
