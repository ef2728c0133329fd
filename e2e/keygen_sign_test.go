package e2e

import (
	"bytes"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"google.golang.org/grpc/codes"
)

func digestOf(msg string) []byte {
	d := sha256.Sum256([]byte(msg))
	return d[:]
}

// sign runs 'mpcctl sign' and requires success.
func (c *cluster) sign(t testing.TB, key keyInfo, digest []byte, extra ...string) signResult {
	t.Helper()
	var s signResult
	args := append([]string{"sign", "--key", key.ID, "--digest", hex.EncodeToString(digest)}, extra...)
	if c.requester != nil {
		args = append(args, "--requester-key", c.requester.file)
	}
	c.ctlJSON(t, &s, args...)
	if s.KeyID != key.ID {
		t.Errorf("signature is for key %q, want %q", s.KeyID, key.ID)
	}
	return s
}

// checkSigners requires exactly the named devices to have signed.
func checkSigners(t testing.TB, got []string, want ...string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	slices.Sort(g)
	slices.Sort(w)
	if !slices.Equal(g, w) {
		t.Errorf("signers %v, want %v", got, want)
	}
}

// stopParty sends SIGTERM to a device's agent and requires a clean exit.
func stopParty(t testing.TB, d *device) {
	t.Helper()
	if code, killed := d.proc.stop(); killed || code != 0 {
		t.Errorf("party %s did not exit cleanly on SIGTERM: code %d, killed %v\nstderr:\n%s", d.name, code, killed, d.proc.stderr())
	}
}

// TestKeygenAndSign is the main job: three devices make a 2-of-3 key, sign,
// keep signing with one device off, and are refused with two off. Then every
// log is scanned for the secrets held in the devices' keystores.
func TestKeygenAndSign(t *testing.T) {
	c := newCluster(t)
	c.startCoordinator(t)
	names := []string{"phone", "laptop", "server"}
	for _, n := range names {
		d := c.enroll(t, n, n == "server") // server reads its passphrase from a file
		c.runParty(t, d)
	}
	c.waitReady(t, names...)

	var key keyInfo
	c.ctlJSON(t, &key, "keys", "create", "--threshold", "1", "--devices", strings.Join(names, ","))

	t.Run("key", func(t *testing.T) {
		if key.ID == "" || key.Curve != "secp256k1" || key.Threshold != 1 || key.SignersNeeded != 2 || key.Epoch != 0 {
			t.Errorf("key %+v: want an id, curve secp256k1, threshold 1, 2 signers needed, epoch 0", key)
		}
		pub := mustHex(t, "public key", key.PublicKey, 33)
		if pub[0] != 0x02 && pub[0] != 0x03 {
			t.Errorf("public key %s is not a compressed point", key.PublicKey)
		}
		checkSigners(t, key.Holders, names...)
	})

	t.Run("list and get agree", func(t *testing.T) {
		keys := c.listKeys(t)
		if len(keys) != 1 {
			t.Fatalf("keys list: %d keys, want 1: %+v", len(keys), keys)
		}
		var got keyInfo
		c.ctlJSON(t, &got, "keys", "get", key.ID)
		for _, k := range []keyInfo{keys[0], got} {
			if !reflect.DeepEqual(k, key) {
				t.Errorf("got %+v\nwant (from keys create) %+v", k, key)
			}
		}
	})

	t.Run("devices list the key", func(t *testing.T) {
		for _, d := range c.listDevices(t) {
			if !slices.Contains(d.KeyIDs, key.ID) {
				t.Errorf("device %s lists keys %v, want %s among them", d.Name, d.KeyIDs, key.ID)
			}
		}
	})

	t.Run("sign three digests", func(t *testing.T) {
		seen := map[string]bool{}
		for i := range 3 {
			digest := digestOf(fmt.Sprintf("e2e digest %d", i))
			s := c.sign(t, key, digest)
			verifySignature(t, key.PublicKey, digest, s)
			if len(s.Signers) != 2 || s.Signers[0] == s.Signers[1] {
				t.Errorf("signers %v, want two distinct devices", s.Signers)
			}
			for _, n := range s.Signers {
				if !slices.Contains(names, n) {
					t.Errorf("signer %q is not a holder", n)
				}
			}
			if s.Replayed {
				t.Errorf("a signature without request id says replayed")
			}
			if seen[s.R] {
				t.Errorf("r %s repeats across digests", s.R)
			}
			seen[s.R] = true
		}
	})

	reqID := "e2e-" + randomHex(t, 8)
	t.Run("request id returns the first signature", func(t *testing.T) {
		digest := digestOf("idempotent request")
		first := c.sign(t, key, digest, "--request-id", reqID)
		second := c.sign(t, key, digest, "--request-id", reqID)
		verifySignature(t, key.PublicKey, digest, first)
		verifySignature(t, key.PublicKey, digest, second)
		if first.Replayed || !second.Replayed {
			t.Errorf("replayed: first %v, second %v; want false, true", first.Replayed, second.Replayed)
		}
		a, b := first, second
		a.Replayed, b.Replayed = false, false
		if !reflect.DeepEqual(a, b) {
			t.Errorf("the retry returned another signature:\n%+v\n%+v", first, second)
		}
	})

	t.Run("request id with another digest", func(t *testing.T) {
		c.sign(t, key, digestOf("first use of the id"), "--request-id", reqID+"-b")
		e := c.ctlErr(t, "sign", "--key", key.ID, "--digest", hex.EncodeToString(digestOf("another digest")), "--request-id", reqID+"-b")
		expectRPC(t, e, codes.AlreadyExists, "request_id")
	})

	t.Run("addresses, derived keys and sign --path", func(t *testing.T) {
		var got struct {
			ChainCode string            `json:"chain_code"`
			Addresses map[string]string `json:"addresses"`
		}
		c.ctlJSON(t, &got, "keys", "get", key.ID)
		chainCode := mustHex(t, "chain code", got.ChainCode, 32)
		pub := mustHex(t, "public key", key.PublicKey, 33)
		checkAddresses(t, "keys get", pub, got.Addresses)
		const path = "m/44/60/0/0/7"
		child := bip32Child(t, pub, chainCode, 44, 60, 0, 0, 7)
		type derivedKey struct {
			Path      string            `json:"path"`
			PublicKey string            `json:"public_key"`
			Addresses map[string]string `json:"addresses"`
		}
		var derived derivedKey
		c.ctlJSON(t, &derived, "keys", "derive", key.ID, "--path", path)
		if derived.PublicKey != hex.EncodeToString(child) || derived.Path != path {
			t.Fatalf("derived %+v, want public key %x", derived, child)
		}
		checkAddresses(t, "keys derive", child, derived.Addresses)
		// 'keys get --path' shows the key and, under "derived", the child;
		// another spelling of the path names the same child.
		var withPath struct {
			PublicKey string            `json:"public_key"`
			Addresses map[string]string `json:"addresses"`
			Derived   derivedKey        `json:"derived"`
		}
		c.ctlJSON(t, &withPath, "keys", "get", key.ID, "--path", "44/60/0/0/7")
		if withPath.PublicKey != key.PublicKey || !reflect.DeepEqual(withPath.Addresses, got.Addresses) || !reflect.DeepEqual(withPath.Derived, derived) {
			t.Fatalf("keys get --path: %+v\nwant the key and, derived, %+v", withPath, derived)
		}
		other := bip32Child(t, pub, chainCode, 0, 1)
		var second struct {
			Derived derivedKey `json:"derived"`
		}
		c.ctlJSON(t, &second, "keys", "get", key.ID, "--path", "m/0/1")
		if second.Derived.PublicKey != hex.EncodeToString(other) || second.Derived.Path != "m/0/1" {
			t.Fatalf("keys get --path m/0/1: %+v, want public key %x", second.Derived, other)
		}
		checkAddresses(t, "keys get --path m/0/1", other, second.Derived.Addresses)
		digest := digestOf("from a derived address")
		s := c.sign(t, key, digest, "--path", path)
		verifySignature(t, derived.PublicKey, digest, s)
		e := c.ctlErr(t, "sign", "--key", key.ID, "--digest", hex.EncodeToString(digest), "--path", "m/44'/60")
		expectRPC(t, e, codes.InvalidArgument, "hardened")
	})

	t.Run("a batch of digests", func(t *testing.T) {
		var items []struct {
			Index  uint32     `json:"index"`
			Result signResult `json:"result"`
			Error  string     `json:"error"`
		}
		d0, d1 := digestOf("batch 0"), digestOf("batch 1")
		c.ctlJSON(t, &items, "sign", "--key", key.ID, "--digest", hex.EncodeToString(d0), "--digest", hex.EncodeToString(d1))
		if len(items) != 2 || items[0].Index != 0 || items[1].Index != 1 || items[0].Error != "" || items[1].Error != "" {
			t.Fatalf("batch results %+v", items)
		}
		verifySignature(t, key.PublicKey, d0, items[0].Result)
		verifySignature(t, key.PublicKey, d1, items[1].Result)
	})

	t.Run("an Ed25519 key signs messages", func(t *testing.T) {
		var ek keyInfo
		c.ctlJSON(t, &ek, "keys", "create", "--curve", "ed25519", "--threshold", "1", "--devices", strings.Join(names, ","))
		pub := mustHex(t, "public key", ek.PublicKey, ed25519.PublicKeySize)
		if ek.Curve != "ed25519" {
			t.Fatalf("key %+v", ek)
		}
		msg := []byte{0, 0, 0, 'h', 'i'} // leading zero bytes must survive
		var s struct {
			Signature string `json:"signature"`
			PublicKey string `json:"public_key"`
		}
		c.ctlJSON(t, &s, "sign", "--key", ek.ID, "--message", hex.EncodeToString(msg))
		if s.PublicKey != ek.PublicKey || !ed25519.Verify(pub, msg, mustHex(t, "signature", s.Signature, ed25519.SignatureSize)) {
			t.Fatalf("Ed25519 signature %+v does not verify", s)
		}
		e := c.ctlErr(t, "sign", "--key", ek.ID, "--digest", hex.EncodeToString(digestOf("x")))
		expectRPC(t, e, codes.InvalidArgument, "message")

		// Messages of the largest size (65536 bytes: their hex does not fit
		// one command-line argument) sign from files, as a batch in order.
		var files []string
		var longest [][]byte
		for i := range 2 {
			m := bytes.Repeat([]byte{byte(i), 0xee}, 1<<15)
			f := filepath.Join(c.dir, fmt.Sprintf("message-%d.bin", i))
			if err := os.WriteFile(f, m, 0o600); err != nil {
				t.Fatal(err)
			}
			files, longest = append(files, f), append(longest, m)
		}
		var items []struct {
			Index  uint32 `json:"index"`
			Result struct {
				Signature string `json:"signature"`
			} `json:"result"`
			Error string `json:"error"`
		}
		c.ctlJSON(t, &items, "sign", "--key", ek.ID, "--message-file", files[0], "--message-file", files[1])
		if len(items) != 2 {
			t.Fatalf("batch results %+v", items)
		}
		for i, it := range items {
			if it.Index != uint32(i) || it.Error != "" || !ed25519.Verify(pub, longest[i], mustHex(t, "signature", it.Result.Signature, ed25519.SignatureSize)) {
				t.Fatalf("65536-byte message %d: %+v", i, it)
			}
		}
		tooLong := filepath.Join(c.dir, "message-too-long.bin")
		if err := os.WriteFile(tooLong, make([]byte, 1<<16+1), 0o600); err != nil {
			t.Fatal(err)
		}
		if r := c.ctl(t, "sign", "--key", ek.ID, "--message-file", tooLong); r.code == 0 || !strings.Contains(r.stderr, "1 to 65536 bytes, this file has more than 65536") {
			t.Fatalf("a 65537-byte message file: exit %d\n%s", r.code, r.stderr)
		}
		empty := filepath.Join(c.dir, "message-empty.bin")
		if err := os.WriteFile(empty, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		if r := c.ctl(t, "sign", "--key", ek.ID, "--message-file", empty); r.code == 0 || !strings.Contains(r.stderr, "1 to 65536 bytes, this file has no bytes") {
			t.Fatalf("an empty message file: exit %d\n%s", r.code, r.stderr)
		}
	})

	t.Run("signs with one device stopped", func(t *testing.T) {
		stopParty(t, c.devices["phone"])
		c.waitOffline(t, "phone")
		digest := digestOf("phone is off")
		s := c.sign(t, key, digest)
		verifySignature(t, key.PublicKey, digest, s)
		checkSigners(t, s.Signers, "laptop", "server")
	})

	t.Run("refuses with two devices stopped", func(t *testing.T) {
		stopParty(t, c.devices["phone"]) // no-op when the previous subtest stopped it
		stopParty(t, c.devices["laptop"])
		c.waitOffline(t, "phone", "laptop")
		e := c.ctlErr(t, "sign", "--key", key.ID, "--digest", hex.EncodeToString(digestOf("one device cannot sign")))
		expectRPC(t, e, codes.FailedPrecondition, "phone", "laptop")
	})

	t.Run("audit log exports and verifies", func(t *testing.T) {
		file := filepath.Join(c.dir, "audit.jsonl")
		if r := c.ctl(t, "audit", "export", "--out", file); r.code != 0 {
			t.Fatalf("audit export: exit %d\n%s", r.code, r.stderr)
		}
		r := c.ctl(t, "audit", "verify", file)
		if r.code != 0 || !strings.Contains(r.stdout, `"ok": true`) {
			t.Fatalf("audit verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		b, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		signs := 0
		for _, l := range lines {
			if strings.Contains(l, `"action":"sign"`) {
				signs++
			}
		}
		if signs < 4 {
			t.Fatalf("want the signatures in the audit log, found %d sign entries in:\n%s", signs, b)
		}
		// Deleting one entry is reported at the entry after it.
		tampered := filepath.Join(c.dir, "audit-tampered.jsonl")
		if err := os.WriteFile(tampered, []byte(strings.Join(append(lines[:3:3], lines[4:]...), "\n")+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		r = c.ctl(t, "audit", "verify", tampered)
		if r.code != 1 || !strings.Contains(r.stderr, "broken at entry 4") || !strings.Contains(r.stdout, `"broken_at_entry": 4`) {
			t.Fatalf("verify of a log with entry 4 deleted: exit %d\n%s", r.code, r.stderr)
		}
	})

	t.Run("processes stop cleanly", func(t *testing.T) {
		stopParty(t, c.devices["server"])
		if code, killed := c.coord.stop(); killed || code != 0 {
			t.Errorf("coordinator did not exit cleanly on SIGTERM: code %d, killed %v", code, killed)
		}
	})
	c.stopAll() // the keystores are locked while their party runs

	t.Run("no panics in any log", func(t *testing.T) { c.assertNoPanics(t) })
	t.Run("no secret in any log", func(t *testing.T) { checkNoSecrets(t, c, key) })
}

// checkNoSecrets collects every device's secrets from its keystore, the API
// tokens and the passphrases, proves that the scanner finds a planted one in
// every form, then scans every captured output.
func checkNoSecrets(t *testing.T, c *cluster, key keyInfo) {
	secrets := c.tokenSecrets(t)
	xis := map[string]bool{}
	for _, n := range []string{"phone", "laptop", "server"} {
		ds := deviceSecrets(t, c.devices[n], key)
		if len(ds) > 0 {
			xis[hex.EncodeToString(ds[0].value)] = true
		}
		secrets = append(secrets, ds...)
	}
	if len(xis) != 3 {
		t.Errorf("the three devices hold %d distinct shares, want 3", len(xis))
	}

	t.Run("scanner finds a planted secret", func(t *testing.T) {
		for _, s := range []secret{secrets[0], secrets[len(secrets)-1], secrets[len(secrets)/2]} {
			for _, f := range s.forms() {
				line := "time=2026-01-01T00:00:00Z level=INFO msg=\"session state\" value=" + f.needle + "\n"
				found := scanText("synthetic.log", line, secrets)
				if !slices.Contains(found, leak{"synthetic.log", s.label, f.name}) {
					t.Errorf("planted %s as %s: scanner found %v", s.label, f.name, found)
				}
			}
		}
		if found := scanText("clean.log", "time=2026-01-01T00:00:00Z level=INFO msg=signed key="+key.ID+"\n", secrets); len(found) > 0 {
			t.Errorf("scanner reports a clean line: %v", found)
		}
	})

	t.Run("no secret in any log", func(t *testing.T) {
		if !strings.Contains(readFile(c.coord.stderrPath), key.ID) {
			t.Errorf("the coordinator's captured log does not mention key %s: is the output captured at all?", key.ID)
		}
		for _, l := range c.scanLogs(t, secrets) {
			t.Errorf("%s appears in %s as %s", l.secret, l.file, l.form)
		}
	})
}
