package keyfile

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/keystore"
)

// testKDF keeps Argon2id cheap in tests (as testkit.TestKDF).
var testKDF = keystore.KDFParams{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}

func testPass() keystore.Passphrase {
	return keystore.NewPassphrase([]byte("correct horse battery staple"))
}

// writeKey generates a key and writes it to a new file; it returns both.
func writeKey(t *testing.T, kind, name string) (*Key, string) {
	t.Helper()
	k, err := Generate(kind, name)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "operator.key")
	if err := Write(path, k, testPass(), testKDF); err != nil {
		t.Fatal(err)
	}
	return k, path
}

func TestKeyFileRoundTrip(t *testing.T) {
	for _, kind := range []string{KindOperator, KindRequester} {
		t.Run(kind, func(t *testing.T) {
			k, path := writeKey(t, kind, "Alice Example")
			got, err := Read(path, testPass())
			if err != nil {
				t.Fatal(err)
			}
			if got.Kind() != kind || got.Name() != "Alice Example" || !got.PublicKey().Equal(k.PublicKey()) {
				t.Fatalf("read %s %q %x, want %s %q %x", got.Kind(), got.Name(), got.PublicKey(), kind, "Alice Example", k.PublicKey())
			}
			msg := []byte("roster entry")
			if !ed25519.Verify(k.PublicKey(), msg, got.Sign(msg)) {
				t.Fatal("the key read back does not sign for the public key")
			}
			var _ interface {
				PublicKey() ed25519.PublicKey
				Sign(msg []byte) []byte
			} = got

			pk, pn, pub, err := ReadPublic(path)
			if err != nil || pk != kind || pn != "Alice Example" || !pub.Equal(k.PublicKey()) {
				t.Fatalf("ReadPublic = %s %q %x, %v", pk, pn, pub, err)
			}

			var f map[string]string
			raw, _ := os.ReadFile(path)
			if err := json.Unmarshal(raw, &f); err != nil {
				t.Fatal(err)
			}
			if f["format"] != Format || f["algorithm"] != AlgorithmEd25519 || f["public_key"] != hex.EncodeToString(k.PublicKey()) {
				t.Fatalf("file content %s", raw)
			}
			if bytes.Contains(raw, []byte(hex.EncodeToString(k.seed()))) ||
				bytes.Contains(raw, []byte(base64.StdEncoding.EncodeToString(k.seed()))) {
				t.Fatal("the file holds the seed in clear")
			}
		})
	}
}

func TestKeyFilePublicKeyIsACopy(t *testing.T) {
	k, err := Generate(KindOperator, "alice")
	if err != nil {
		t.Fatal(err)
	}
	pub := k.PublicKey()
	pub[0] ^= 0xff
	if k.PublicKey().Equal(pub) {
		t.Fatal("PublicKey returned the key's own buffer")
	}
}

func TestKeyFileGenerateChecks(t *testing.T) {
	tests := []struct{ kind, name string }{
		{"admin", "alice"},
		{"", "alice"},
		{KindOperator, ""},
		{KindOperator, " alice"},
		{KindOperator, "al\nice"},
		{KindOperator, "\xff"},
		{KindOperator, strings.Repeat("a", MaxNameLen+1)},
	}
	for _, tt := range tests {
		if k, err := Generate(tt.kind, tt.name); err == nil {
			t.Errorf("Generate(%q, %q) = %v, want an error", tt.kind, tt.name, k)
		}
	}
	if _, err := Generate(KindOperator, strings.Repeat("é", MaxNameLen/2)); err != nil {
		t.Errorf("a %d-byte UTF-8 name: %v", MaxNameLen, err)
	}
}

func TestKeyFileWrongPassphrase(t *testing.T) {
	_, path := writeKey(t, KindOperator, "alice")
	_, err := Read(path, keystore.NewPassphrase([]byte("wrong horse battery staple")))
	if !errors.Is(err, keystore.ErrWrongPassphrase) || !strings.Contains(err.Error(), path) {
		t.Fatalf("Read with a wrong passphrase: %v, want ErrWrongPassphrase naming the file", err)
	}
	if _, err := Read(path, keystore.Passphrase{}); !errors.Is(err, keystore.ErrNoPassphrase) {
		t.Fatalf("Read with no passphrase: %v", err)
	}
}

func TestKeyFileNotFound(t *testing.T) {
	path := filepath.Join(t.TempDir(), "operator.key")
	_, err := Read(path, testPass())
	if !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), "mpcctl operator init") || !strings.Contains(err.Error(), path) {
		t.Fatalf("Read of a missing file: %v", err)
	}
	if _, _, _, err := ReadPublic(path); !errors.Is(err, ErrNotFound) {
		t.Fatalf("ReadPublic of a missing file: %v", err)
	}
}

func TestKeyFileTampered(t *testing.T) {
	_, path := writeKey(t, KindOperator, "alice")
	other, err := Generate(KindOperator, "mallory")
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var orig fileJSON
	if err := json.Unmarshal(raw, &orig); err != nil {
		t.Fatal(err)
	}
	sealed, _ := base64.StdEncoding.DecodeString(orig.Sealed)
	flipped := func(i int) string {
		b := bytes.Clone(sealed)
		b[i] ^= 0x01
		return base64.StdEncoding.EncodeToString(b)
	}
	// otherSealed is a valid blob under the same passphrase, for another
	// public key.
	otherPath := filepath.Join(t.TempDir(), "other.key")
	if err := Write(otherPath, other, testPass(), testKDF); err != nil {
		t.Fatal(err)
	}
	var otherFile fileJSON
	otherRaw, _ := os.ReadFile(otherPath)
	_ = json.Unmarshal(otherRaw, &otherFile)

	tests := []struct {
		name    string
		edit    func(f *fileJSON)
		raw     string // replaces the file when set
		wantErr error
	}{
		{name: "public key swapped", edit: func(f *fileJSON) { f.PublicKey = hex.EncodeToString(other.PublicKey()) }, wantErr: keystore.ErrTampered},
		{name: "sealed swapped", edit: func(f *fileJSON) { f.Sealed = otherFile.Sealed }, wantErr: keystore.ErrTampered},
		{name: "sealed ciphertext byte flipped", edit: func(f *fileJSON) { f.Sealed = flipped(len(sealed) - 20) }, wantErr: keystore.ErrTampered},
		{name: "sealed tag byte flipped", edit: func(f *fileJSON) { f.Sealed = flipped(len(sealed) - 1) }, wantErr: keystore.ErrTampered},
		{name: "sealed truncated", edit: func(f *fileJSON) { f.Sealed = base64.StdEncoding.EncodeToString(sealed[:40]) }, wantErr: keystore.ErrTampered},
		{name: "kind changed", edit: func(f *fileJSON) { f.Kind = KindRequester }, wantErr: keystore.ErrTampered},
		{name: "name changed", edit: func(f *fileJSON) { f.Name = "mallory" }, wantErr: keystore.ErrTampered},
		{name: "unknown kind", edit: func(f *fileJSON) { f.Kind = "admin" }, wantErr: ErrMalformed},
		{name: "format changed", edit: func(f *fileJSON) { f.Format = "mpcsign-keyfile-v2" }, wantErr: ErrMalformed},
		{name: "algorithm p256", edit: func(f *fileJSON) { f.Algorithm = "p256" }, wantErr: ErrMalformed},
		{name: "public key short", edit: func(f *fileJSON) { f.PublicKey = f.PublicKey[:62] }, wantErr: ErrMalformed},
		{name: "sealed not base64", edit: func(f *fileJSON) { f.Sealed = "!" + f.Sealed[1:] }, wantErr: ErrMalformed},
		{name: "sealed empty", edit: func(f *fileJSON) { f.Sealed = "" }, wantErr: ErrMalformed},
		{name: "extra field", raw: strings.Replace(string(raw), "{", `{"seed":"00",`, 1), wantErr: ErrMalformed},
		{name: "trailing data", raw: string(raw) + "{}", wantErr: ErrMalformed},
		{name: "not JSON", raw: "-----BEGIN OPENSSH PRIVATE KEY-----\n", wantErr: ErrMalformed},
		{name: "empty", raw: "", wantErr: ErrMalformed},
		{name: "too large", raw: strings.Repeat(" ", MaxFileSize+1), wantErr: ErrMalformed},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			content := tt.raw
			if tt.edit != nil {
				f := orig
				tt.edit(&f)
				b, err := json.Marshal(f)
				if err != nil {
					t.Fatal(err)
				}
				content = string(b)
			}
			p := filepath.Join(t.TempDir(), "operator.key")
			if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
				t.Fatal(err)
			}
			k, err := Read(p, testPass())
			if !errors.Is(err, tt.wantErr) || k != nil {
				t.Fatalf("Read = %v, %v; want %v", k, err, tt.wantErr)
			}
			if errors.Is(tt.wantErr, ErrMalformed) {
				if _, _, _, err := ReadPublic(p); !errors.Is(err, ErrMalformed) {
					t.Fatalf("ReadPublic: %v, want ErrMalformed", err)
				}
			}
		})
	}
}

func TestKeyFileRefusesOverwrite(t *testing.T) {
	k, path := writeKey(t, KindOperator, "alice")
	before, _ := os.ReadFile(path)
	k2, err := Generate(KindOperator, "bob")
	if err != nil {
		t.Fatal(err)
	}
	err = Write(path, k2, testPass(), testKDF)
	if !errors.Is(err, ErrExists) || !strings.Contains(err.Error(), "another path") || !strings.Contains(err.Error(), "remove") {
		t.Fatalf("Write over an existing file: %v, want ErrExists saying what to do", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Fatal("the existing file changed")
	}
	if got, err := Read(path, testPass()); err != nil || !got.PublicKey().Equal(k.PublicKey()) {
		t.Fatalf("the existing key no longer reads: %v", err)
	}
	// Also when the file appears between the check and the link.
	p2 := filepath.Join(filepath.Dir(path), "late.key")
	if err := os.WriteFile(p2, []byte("late"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := createFile(p2, []byte("new")); !errors.Is(err, ErrExists) {
		t.Fatalf("createFile over an existing file: %v", err)
	}
	if b, _ := os.ReadFile(p2); string(b) != "late" {
		t.Fatalf("the existing file now holds %q", b)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), ".tmp-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}

func TestKeyFileMode(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("no Unix modes")
	}
	_, path := writeKey(t, KindOperator, "alice")
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v, want 0600", fi.Mode().Perm())
	}
	if err := Write(filepath.Join(t.TempDir(), "missing", "operator.key"), mustGenerate(t), testPass(), testKDF); err == nil {
		t.Fatal("Write into a missing directory succeeded")
	}
}

func mustGenerate(t *testing.T) *Key {
	t.Helper()
	k, err := Generate(KindOperator, "alice")
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestKeyFileWriteChecks(t *testing.T) {
	dir := t.TempDir()
	if err := Write(filepath.Join(dir, "a.key"), nil, testPass(), testKDF); err == nil {
		t.Fatal("Write of a nil key succeeded")
	}
	if err := Write(filepath.Join(dir, "b.key"), &Key{}, testPass(), testKDF); err == nil {
		t.Fatal("Write of a zero key succeeded")
	}
	if err := Write(filepath.Join(dir, "c.key"), mustGenerate(t), keystore.Passphrase{}, testKDF); !errors.Is(err, keystore.ErrNoPassphrase) {
		t.Fatalf("Write with no passphrase: %v", err)
	}
	if err := Write(filepath.Join(dir, "d.key"), mustGenerate(t), testPass(), keystore.KDFParams{Time: 1, MemoryKiB: 1, Threads: 1}); err == nil {
		t.Fatal("Write with a KDF below the bounds succeeded")
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("failed writes left %d files", len(entries))
	}
}

func TestKeyFileRedacted(t *testing.T) {
	k, err := Generate(KindOperator, "alice")
	if err != nil {
		t.Fatal(err)
	}
	seed := k.seed()
	secrets := []string{
		hex.EncodeToString(seed), strings.ToUpper(hex.EncodeToString(seed)),
		hex.EncodeToString(k.sk.b[:]),
		base64.StdEncoding.EncodeToString(seed),
		strings.Trim(fmt.Sprint(seed[:12]), "[]"),  // decimal
		strings.Trim(fmt.Sprintf("%q", seed), `"`), // quoted
	}
	type holder struct { // unexported fields are printed by reflection
		k  *Key
		kv Key
	}
	for name, v := range map[string]any{"*Key": k, "Key": *k, "holder": holder{k, *k}, "[]*Key": []*Key{k}} {
		for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%p"} {
			checkRedacted(t, name+" "+verb, fmt.Sprintf(verb, v), secrets, name != "holder" && verb != "%p")
		}
		var buf bytes.Buffer
		slog.New(slog.NewTextHandler(&buf, nil)).Info("msg", "key", v)
		slog.New(slog.NewJSONHandler(&buf, nil)).Info("msg", "key", v)
		checkRedacted(t, name+" slog", buf.String(), secrets, name != "holder")
	}
	if _, err := json.Marshal(k); err == nil {
		t.Error("json.Marshal(*Key) succeeded")
	}
	if _, err := json.Marshal(struct{ K Key }{*k}); err == nil {
		t.Error("json.Marshal of a Key field succeeded")
	}
	if _, err := k.MarshalText(); err == nil {
		t.Error("MarshalText succeeded")
	}
	if s := k.String(); !strings.Contains(s, "alice") || !strings.Contains(s, "operator") {
		t.Errorf("String() = %q, want the kind and name", s)
	}
}

func checkRedacted(t *testing.T, how, got string, secrets []string, wantRedacted bool) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(got, s) {
			t.Errorf("%s leaks the private key: %s", how, got)
		}
	}
	if wantRedacted && !strings.Contains(got, "REDACTED") {
		t.Errorf("%s = %q, want REDACTED", how, got)
	}
}

func TestKeyFileFingerprint(t *testing.T) {
	pub := make([]byte, ed25519.PublicKeySize)
	fp := Fingerprint(pub)
	if !regexp.MustCompile(`^[0-9a-f]{4}(-[0-9a-f]{4}){3}$`).MatchString(fp) {
		t.Fatalf("Fingerprint = %q, want four groups of four hex digits", fp)
	}
	if fp != Fingerprint(bytes.Clone(pub)) {
		t.Fatal("Fingerprint is not deterministic")
	}
	pub[31] = 1
	if Fingerprint(pub) == fp {
		t.Fatal("two keys share a fingerprint")
	}
	if Fingerprint(nil) == "" {
		t.Fatal("Fingerprint(nil) is empty")
	}
}
