package e2e

import (
	"encoding/base64"
	"encoding/hex"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/keystore"
	"github.com/mpcsign/mpcsign/party"
)

// minSecretBytes: shorter values are not searched for in their encoded
// forms (a short byte string matches by chance).
const minSecretBytes = 16

// secret is a value that must never appear in any process's output. text is
// its literal form when it is a string (a token, a passphrase).
type secret struct {
	label string
	value []byte
	text  string
}

// form is one way a secret could be printed.
type form struct{ name, needle string }

// forms lists the printed forms searched for: the literal string, decimal,
// lower- and uppercase hex, and standard and URL base64 (unpadded, so that
// the padded encodings, which start with them, are found too).
func (s secret) forms() []form {
	var out []form
	if len(s.text) >= minSecretBytes {
		out = append(out, form{"literal", s.text})
	}
	if len(s.value) >= minSecretBytes {
		h := hex.EncodeToString(s.value)
		out = append(out,
			form{"decimal", new(big.Int).SetBytes(s.value).String()},
			form{"hex", h},
			form{"HEX", strings.ToUpper(h)},
			form{"base64", base64.RawStdEncoding.EncodeToString(s.value)},
			form{"base64url", base64.RawURLEncoding.EncodeToString(s.value)},
		)
	}
	return out
}

// leak is a secret found in a log.
type leak struct{ file, secret, form string }

// scanText finds every secret, in every form, in one log's content.
func scanText(file, content string, secrets []secret) []leak {
	var out []leak
	for _, s := range secrets {
		for _, f := range s.forms() {
			if strings.Contains(content, f.needle) {
				out = append(out, leak{file, s.label, f.name})
			}
		}
	}
	return out
}

// logFiles lists every captured stdout/stderr of a cluster.
func (c *cluster) logFiles(t testing.TB) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(c.logDir, "*"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no captured logs in %s (%v)", c.logDir, err)
	}
	sort.Strings(files)
	return files
}

// scanLogs scans every captured output of the cluster.
func (c *cluster) scanLogs(t testing.TB, secrets []secret) []leak {
	t.Helper()
	var out []leak
	for _, f := range c.logFiles(t) {
		out = append(out, scanText(filepath.Base(f), readFile(f), secrets)...)
	}
	return out
}

// deviceSecrets opens a stopped device's keystore and returns its share's
// secrets for keyID, its identity record, and its passphrase. It also checks
// that the share belongs to the key.
func deviceSecrets(t testing.TB, d *device, key keyInfo) []secret {
	t.Helper()
	ks, err := keystore.Open(d.dir, keystore.NewPassphrase([]byte(d.pass)), keystore.Options{})
	if err != nil {
		t.Fatalf("open %s's keystore: %v", d.name, err)
	}
	defer ks.Close()
	share, err := party.LoadShare(ks, key.ID, 0)
	if err != nil {
		t.Fatalf("load %s's share of %s: %v", d.name, key.ID, err)
	}
	if got := hex.EncodeToString(share.Meta.PublicKey); got != key.PublicKey {
		t.Errorf("%s's share is of public key %s, want %s", d.name, got, key.PublicKey)
	}
	data, err := share.SaveData()
	if err != nil {
		t.Fatalf("%s's share data: %v", d.name, err)
	}
	var out []secret
	add := func(label string, x *big.Int) {
		if x == nil || x.Sign() == 0 {
			t.Errorf("%s's share has no %s", d.name, label)
			return
		}
		out = append(out, secret{label: d.name + " " + label, value: x.Bytes()})
	}
	add("share Xi", data.Xi)
	if data.PaillierSK == nil {
		t.Fatalf("%s's share has no Paillier private key", d.name)
	}
	add("PaillierSK.LambdaN", data.PaillierSK.LambdaN)
	add("PaillierSK.PhiN", data.PaillierSK.PhiN)
	add("PaillierSK.P", data.PaillierSK.P)
	add("PaillierSK.Q", data.PaillierSK.Q)
	add("P", data.P)
	add("Q", data.Q)
	add("Alpha", data.Alpha)
	add("Beta", data.Beta)

	id, err := ks.Get("device/identity")
	if err != nil || len(id) != 64 {
		t.Fatalf("%s's identity record: %d bytes, %v", d.name, len(id), err)
	}
	out = append(out,
		secret{label: d.name + " identity record", value: id},
		secret{label: d.name + " identity signing seed", value: id[:32]},
		secret{label: d.name + " identity encryption key", value: id[32:]},
		secret{label: d.name + " keystore passphrase", value: []byte(d.pass), text: d.pass},
	)
	return out
}

// tokenSecrets are the coordinator's API tokens, literally and as the
// random bytes they encode.
func (c *cluster) tokenSecrets(t testing.TB) []secret {
	t.Helper()
	var out []secret
	for _, name := range []string{"admin.token", "signer.token"} {
		b, err := os.ReadFile(filepath.Join(c.coordDir, name))
		if err != nil {
			t.Fatal(err)
		}
		tok := strings.TrimSpace(string(b))
		raw, err := base64.RawURLEncoding.DecodeString(strings.TrimPrefix(tok, "mpct_"))
		if !strings.HasPrefix(tok, "mpct_") || err != nil || len(raw) < minSecretBytes {
			t.Fatalf("%s does not hold an mpct_ token", name)
		}
		out = append(out, secret{label: name, value: raw, text: tok})
	}
	return out
}

var stackHeaderRE = regexp.MustCompile(`goroutine \d+ \[`)

// assertNoPanics fails if any captured output holds a panic or a Go stack
// trace (a recovered panic logs its stack too).
func (c *cluster) assertNoPanics(t testing.TB) {
	t.Helper()
	for _, f := range c.logFiles(t) {
		s := readFile(f)
		if strings.Contains(s, "panic:") || stackHeaderRE.MatchString(s) {
			t.Errorf("%s holds a panic or a stack trace:\n%s", filepath.Base(f), s)
		}
	}
}
