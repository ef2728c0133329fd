package main

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	"github.com/mpcsign/mpcsign/keystore"
	"github.com/mpcsign/mpcsign/signclient"
	"github.com/mpcsign/mpcsign/signreq"
)

// TestRequesters: create (a key file, and a KMS public key), grant, list
// and revoke, each a roster entry signed with the operator key; and the
// errors that leave the roster and the disk as they were.
func TestRequesters(t *testing.T) {
	e := newRequesterEnv(t)
	alice := e.operator("alice")
	e.mustRun(alice.with("roster", "init")...)
	dir := t.TempDir()
	pass := requesterPassFile(t)
	keyFile := filepath.Join(dir, "wallet.json")

	// No passphrase: refused before anything is signed or written.
	_, _, err := e.run(alice.with("requesters", "create", "wallet", "--keys", "k1", "--out", keyFile)...)
	if err == nil || !strings.Contains(err.Error(), "no passphrase for the requester key") || !strings.Contains(err.Error(), requesterPassphraseEnv) {
		t.Fatalf("create without a passphrase: %v", err)
	}
	short := filepath.Join(dir, "short")
	if err := os.WriteFile(short, []byte("short\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.run(alice.with("requesters", "create", "wallet", "--keys", "k1", "--out", keyFile, "--requester-passphrase-file", short)...); err == nil || !strings.Contains(err.Error(), "at least 12") {
		t.Fatalf("create with a short passphrase: %v", err)
	}
	if _, _, err := e.run(alice.with("requesters", "create", "wallet", "--keys", "k1,*", "--out", keyFile, "--requester-passphrase-file", pass)...); err == nil || !strings.Contains(err.Error(), "'*'") {
		t.Fatalf("create with '*' and a key: %v", err)
	}
	if _, _, err := e.run(alice.with("requesters", "create", "wallet", "--keys", "k1", "--paths", "m/44'/60", "--out", keyFile, "--requester-passphrase-file", pass)...); err == nil || !strings.Contains(err.Error(), "hardened") {
		t.Fatalf("create with a hardened path: %v", err)
	}
	if _, err := os.Stat(keyFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused create wrote the key file: %v", err)
	}
	if r := e.roster(); r.GetHeight() != 0 || len(r.GetPending()) != 0 {
		t.Fatalf("a refused create changed the roster: height %d", r.GetHeight())
	}

	// Create: the key file, then the entry.
	out := e.mustRun(alice.with("requesters", "create", "wallet", "--keys", "k1,k2", "--paths", "44/60/0/0", "--max-per-hour", "100",
		"--out", keyFile, "--requester-passphrase-file", pass, "--reason", "eu hot wallet")...)
	kind, name, pub, err := keyfile.ReadPublic(keyFile)
	if err != nil || kind != keyfile.KindRequester || name != "wallet" {
		t.Fatalf("key file: %s %s %v", kind, name, err)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(keyFile); err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("key file mode: %v, %v", fi, err)
		}
	}
	wallet := e.rosterRequester(alice, "wallet")
	_, _, id, _ := signreq.KeyOf(pub)
	if !wallet.Active || wallet.ID != id || wallet.Algorithm != roster.AlgEd25519 || strings.Join(wallet.Keys, ",") != "k1,k2" ||
		strings.Join(wallet.Paths, ",") != "m/44/60/0/0" || wallet.MaxPerHour != 100 || wallet.AddedAt != 1 {
		t.Fatalf("the roster's requester: %+v", wallet)
	}
	for _, want := range []string{"requester:    wallet", "id:           " + id, "k1, k2", "m/44/60/0/0 (and below)", "max per hour: 100 per device\n", keyFile, "add_requester entry", "appended to the roster (height 1)"} {
		if !strings.Contains(out, want) {
			t.Fatalf("create does not say %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, testRequesterPassphrase) {
		t.Fatal("create printed the passphrase")
	}
	if p := readPin(t, alice.dir); p.Height != 1 {
		t.Fatalf("the pin did not advance: %+v", p)
	}

	// The file signs requests that verify against the roster, within the
	// grants.
	key, err := signclient.LoadKeyFile(keyFile, []byte(testRequesterPassphrase))
	if err != nil {
		t.Fatal(err)
	}
	st, _, err := verifiedRoster(e.ctx, e.c.Admin, alice.dir)
	if err != nil {
		t.Fatal(err)
	}
	d := make([]byte, 32)
	req, err := signclient.NewSignRequest(key, signclient.Request{KeyID: "k1", Digests: [][]byte{d}, Path: "m/44/60/0/0/7"}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	b, r, err := signreq.Verify(st, req.GetSigned())
	if err != nil || r.Name != "wallet" {
		t.Fatalf("a request signed with the new key: %v (%s)", err, r.Name)
	}
	if err := signreq.Check(b, r.Requester, signreq.Session{KeyID: "k1", Path: "m/44/60/0/0/7", Data: d}, time.Now()); err != nil {
		t.Fatal(err)
	}
	req, _ = signclient.NewSignRequest(key, signclient.Request{KeyID: "k3", Digests: [][]byte{d}, Path: "m/44/60/0/0/7"}, time.Now())
	b, _, _ = signreq.Verify(st, req.GetSigned())
	if err := signreq.Check(b, r.Requester, signreq.Session{KeyID: "k3", Path: "m/44/60/0/0/7", Data: d}, time.Now()); !errors.Is(err, signreq.ErrNotAllowed) {
		t.Fatalf("a key it was not granted: %v", err)
	}

	// An existing --out is never replaced; a name in use is refused.
	_, _, err = e.run(alice.with("requesters", "create", "other", "--keys", "k1", "--out", keyFile, "--requester-passphrase-file", pass)...)
	if err == nil || !strings.Contains(err.Error(), keyFile+" already exists") {
		t.Fatalf("create over an existing file: %v", err)
	}
	if _, _, pub2, _ := keyfile.ReadPublic(keyFile); !slices.Equal(pub2, pub) {
		t.Fatal("the key file was replaced")
	}
	_, _, err = e.run(alice.with("requesters", "create", "wallet", "--keys", "k1", "--out", filepath.Join(dir, "wallet2.json"), "--requester-passphrase-file", pass)...)
	if err == nil || !strings.Contains(err.Error(), "mpcctl requesters grant wallet") {
		t.Fatalf("create with a name in use: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "wallet2.json")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a refused create wrote its key file: %v", err)
	}

	// A KMS key: only its public key, no file.
	pemFile := filepath.Join(dir, "kms.pem")
	kms := writePublicKeyPEM(t, pemFile)
	out = e.mustRun(alice.with("--json", "requesters", "create", "kms", "--keys", "*", "--public-key", pemFile)...)
	var created struct {
		ID        string
		Appended  bool
		Height    uint64
		KeyFile   *string `json:"key_file"`
		Requester struct {
			ID, Name, Algorithm string
			Keys                []string
		}
		Entry struct{ Kind, What string }
	}
	if err := json.Unmarshal([]byte(out), &created); err != nil {
		t.Fatalf("create --json: %v\n%s", err, out)
	}
	_, _, kmsID, _ := signreq.KeyOf(kms.Public())
	if !created.Appended || created.Height != 2 || created.KeyFile != nil || created.Requester.ID != kmsID || created.Requester.Algorithm != roster.AlgP256 ||
		strings.Join(created.Requester.Keys, ",") != "*" || created.Entry.Kind != "add_requester" || !strings.Contains(created.Entry.What, "requester kms") || len(created.ID) != 12 {
		t.Fatalf("create --public-key --json:\n%s", out)
	}
	if _, err := os.Stat("kms" + requesterFileSuffix); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("create --public-key wrote a key file: %v", err)
	}
	bad := filepath.Join(dir, "bad.pem")
	if err := os.WriteFile(bad, []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, _, err := e.run(alice.with("requesters", "create", "bad", "--keys", "*", "--public-key", bad)...); err == nil || !strings.Contains(err.Error(), `"PUBLIC KEY"`) {
		t.Fatalf("create with a file that is no PEM key: %v", err)
	}

	// Grant: flags given replace, the others are kept.
	if _, _, err := e.run(alice.with("requesters", "grant", "wallet")...); err == nil || !strings.Contains(err.Error(), "nothing to change") {
		t.Fatalf("grant without flags: %v", err)
	}
	if _, _, err := e.run(alice.with("requesters", "grant", "nobody", "--keys", "k1")...); err == nil || !strings.Contains(err.Error(), `no requester "nobody"`) {
		t.Fatalf("grant to an unknown requester: %v", err)
	}
	out = e.mustRun(alice.with("requesters", "grant", "wallet", "--keys", "*", "--paths", "")...)
	if !strings.Contains(out, "was: keys k1, k2; paths m/44/60/0/0; at most 100") || !strings.Contains(out, "now: keys every key (*); at most 100") ||
		!strings.Contains(out, "appended to the roster (height 3)") {
		t.Fatalf("grant:\n%s", out)
	}
	if w := e.rosterRequester(alice, "wallet"); w.ID != id || !slices.Equal(w.Keys, []string{"*"}) || len(w.Paths) != 0 || w.MaxPerHour != 100 || w.AddedAt != 3 {
		t.Fatalf("after grant: %+v", w)
	}
	if _, _, err := e.run(alice.with("requesters", "grant", id, "--max-per-hour", "100")...); err == nil || !strings.Contains(err.Error(), "grants already") {
		t.Fatalf("grant of the same grants: %v", err)
	}

	// Revoke, by name; then it is listed as revoked and cannot be revoked,
	// granted or registered again.
	if _, _, err := e.run(alice.with("requesters", "revoke", "nobody")...); err == nil || !strings.Contains(err.Error(), `no requester "nobody"`) {
		t.Fatalf("revoke an unknown requester: %v", err)
	}
	out = e.mustRun(alice.with("requesters", "revoke", "kms", "--reason", "rotated")...)
	if !strings.Contains(out, "requester kms ("+kmsID+"): revoke_requester entry") || !strings.Contains(out, "appended to the roster (height 4)") {
		t.Fatalf("revoke:\n%s", out)
	}
	if _, _, err := e.run(alice.with("requesters", "revoke", "kms")...); err == nil || !strings.Contains(err.Error(), "revoked already") {
		t.Fatalf("revoke twice, by name: %v", err)
	}
	if _, _, err := e.run(alice.with("requesters", "revoke", kmsID)...); err == nil || !strings.Contains(err.Error(), "revoked already") {
		t.Fatalf("revoke twice: %v", err)
	}
	if _, _, err := e.run(alice.with("requesters", "grant", kmsID, "--keys", "k1")...); err == nil || !strings.Contains(err.Error(), "was revoked") {
		t.Fatalf("grant to a revoked requester: %v", err)
	}
	if _, _, err := e.run(alice.with("requesters", "create", "kms2", "--keys", "k1", "--public-key", pemFile)...); err == nil || !strings.Contains(err.Error(), "never comes back") {
		t.Fatalf("create with a revoked key: %v", err)
	}

	// List, from the verified roster.
	out = e.mustRun(alice.dirOnly("requesters", "list")...)
	lines := strings.Split(out, "\n")
	if len(lines) < 3 || !strings.HasPrefix(lines[0], "NAME") ||
		!strings.Contains(lines[1], "wallet") || !strings.Contains(lines[1], id) || !strings.Contains(lines[1], "active (height 3)") || !strings.Contains(lines[1], "100") ||
		!strings.Contains(lines[2], "kms") || !strings.Contains(lines[2], "revoked (height 4)") || !strings.Contains(lines[2], "ecdsa-p256") {
		t.Fatalf("requesters list:\n%s", out)
	}
	out = e.mustRun(alice.dirOnly("--json", "requesters", "list")...)
	var listed struct {
		Requesters []struct {
			ID, Name  string
			Active    bool
			Keys      []string
			AddedAt   uint64  `json:"added_at"`
			RevokedAt *uint64 `json:"revoked_at"`
		}
		Pending int `json:"pending_entries"`
	}
	if err := json.Unmarshal([]byte(out), &listed); err != nil {
		t.Fatalf("requesters list --json: %v\n%s", err, out)
	}
	if len(listed.Requesters) != 2 || listed.Requesters[0].Name != "wallet" || !listed.Requesters[0].Active || listed.Requesters[0].RevokedAt != nil ||
		listed.Requesters[1].ID != kmsID || listed.Requesters[1].Active || listed.Requesters[1].RevokedAt == nil || *listed.Requesters[1].RevokedAt != 4 {
		t.Fatalf("requesters list --json:\n%s", out)
	}

	// The roster shows the entries.
	out = e.mustRun(alice.dirOnly("roster", "show")...)
	for _, want := range []string{"add_requester", "requester wallet (" + id[:8], `reason: "eu hot wallet"`, "revoke_requester", "requester kms (" + kmsID[:8], `reason: "rotated"`} {
		if !strings.Contains(out, want) {
			t.Fatalf("roster show does not say %q:\n%s", want, out)
		}
	}
	out = e.mustRun(alice.dirOnly("--json", "roster", "show")...)
	var shown struct {
		Entries []struct {
			Kind          string
			Requester     struct{ ID, Name string }
			RequesterID   string `json:"requester_id"`
			RequesterName string `json:"requester_name"`
		}
	}
	if err := json.Unmarshal([]byte(out), &shown); err != nil || len(shown.Entries) != 5 {
		t.Fatalf("roster show --json: %v\n%s", err, out)
	}
	if en := shown.Entries[1]; en.Kind != "add_requester" || en.Requester.ID != id || en.Requester.Name != "wallet" {
		t.Fatalf("roster show --json, add_requester: %+v", en)
	}
	if en := shown.Entries[4]; en.Kind != "revoke_requester" || en.RequesterID != kmsID || en.RequesterName != "kms" {
		t.Fatalf("roster show --json, revoke_requester: %+v", en)
	}

	// A coordinator that forks the operator's pin is refused before anything
	// is signed or written.
	good := readPin(t, alice.dir)
	writePin(t, alice.dir, pinFile{Genesis: good.Genesis, Height: good.Height, Head: strings.Repeat("ab", 32)})
	forkFile := filepath.Join(dir, "fork.json")
	if _, _, err := e.run(alice.with("requesters", "create", "fork", "--keys", "k1", "--out", forkFile, "--requester-passphrase-file", pass)...); !errors.Is(err, roster.ErrFork) {
		t.Fatalf("create against a forked pin: %v", err)
	}
	if _, err := os.Stat(forkFile); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("create against a forked pin wrote a key file: %v", err)
	}
	if _, _, err := e.run(alice.with("requesters", "revoke", "wallet")...); !errors.Is(err, roster.ErrFork) {
		t.Fatalf("revoke against a forked pin: %v", err)
	}
	writePin(t, alice.dir, good)
}

// TestRequestersQuorum: with a quorum of two, a new requester waits for
// the second operator, who sees what it grants before signing.
func TestRequestersQuorum(t *testing.T) {
	e := newRequesterEnv(t)
	alice, bob := e.operator("alice"), e.operator("bob")
	e.startRoster(2, alice, bob)
	t.Setenv(requesterPassphraseEnv, testRequesterPassphrase) // from the environment this time
	keyFile := filepath.Join(t.TempDir(), "wallet.json")

	out := e.mustRun(alice.with("requesters", "create", "wallet", "--keys", "k1", "--max-per-hour", "5", "--out", keyFile)...)
	if !strings.Contains(out, "waits for more operator signatures") || !strings.Contains(out, "mpcctl roster sign") {
		t.Fatalf("create with quorum 2:\n%s", out)
	}
	if _, err := keyfile.Read(keyFile, keystore.NewPassphrase([]byte(testRequesterPassphrase))); err != nil {
		t.Fatalf("the key file, sealed under the passphrase from %s: %v", requesterPassphraseEnv, err)
	}
	out = e.mustRun(alice.dirOnly("requesters", "list")...)
	if !strings.Contains(out, "no requesters on the roster") || !strings.Contains(out, "1 requester entries wait for operator signatures") {
		t.Fatalf("list with a pending requester:\n%s", out)
	}
	id := e.pendingID()
	out = e.mustRun(bob.dirOnly("roster", "pending")...)
	if !strings.Contains(out, "add_requester") || !strings.Contains(out, "requester wallet") || !strings.Contains(out, "keys k1; at most 5 signatures per device per hour") {
		t.Fatalf("roster pending:\n%s", out)
	}
	out = e.mustRun(bob.with("roster", "sign", id)...)
	if !strings.Contains(out, "appended to the roster (height 1)") {
		t.Fatalf("bob signs the requester:\n%s", out)
	}
	if r := e.rosterRequester(bob, "wallet"); !r.Active || r.MaxPerHour != 5 {
		t.Fatalf("after bob signed: %+v", r)
	}
	out = e.mustRun(alice.with("requesters", "revoke", "wallet")...)
	if !strings.Contains(out, "waits for more operator signatures") {
		t.Fatalf("revoke with quorum 2:\n%s", out)
	}
	if r := e.rosterRequester(alice, "wallet"); !r.Active {
		t.Fatal("revoked with one of two signatures")
	}
}
