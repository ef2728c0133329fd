package e2e

import (
	"encoding/json"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
)

// ctlTimeout bounds one mpcctl call (a key generation is the slowest).
const ctlTimeout = 5 * time.Minute

// deviceInfo is one entry of 'mpcctl devices list --json'.
type deviceInfo struct {
	ID              string   `json:"id"`
	Name            string   `json:"name"`
	Status          string   `json:"status"`
	Online          bool     `json:"online"`
	KeyIDs          []string `json:"key_ids"`
	PreparamsReady  int      `json:"preparams_ready"`
	PreparamsTarget int      `json:"preparams_target"`
	SAS             string   `json:"sas"`
}

// keyInfo is 'mpcctl keys create/get --json' and an entry of 'keys list'.
type keyInfo struct {
	ID            string   `json:"id"`
	Curve         string   `json:"curve"`
	Threshold     int      `json:"threshold"`
	SignersNeeded int      `json:"signers_needed"`
	PublicKey     string   `json:"public_key"`
	Holders       []string `json:"holders"`
	Epoch         uint64   `json:"epoch"`
	CreatedAt     string   `json:"created_at"`
}

// signResult is 'mpcctl sign --json'.
type signResult struct {
	KeyID     string   `json:"key_id"`
	R         string   `json:"r"`
	S         string   `json:"s"`
	V         uint32   `json:"v"`
	RSV       string   `json:"signature_rsv"`
	DER       string   `json:"signature_der"`
	PublicKey string   `json:"public_key"`
	Signers   []string `json:"signers"`
	Replayed  bool     `json:"replayed"`
}

// ctl runs mpcctl against this cluster's coordinator directory with --json.
func (c *cluster) ctl(t testing.TB, args ...string) result {
	t.Helper()
	name := "mpcctl"
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		name += "-" + filepath.Base(a) // a path argument must not become a directory in the log name
	}
	full := append([]string{bin("mpcctl"), "--coordinator-dir", c.coordDir, "--json"}, args...)
	return c.runOnce(t, name, c.env(), ctlTimeout, full...)
}

// ctlJSON runs mpcctl, requires success and decodes its JSON output into v.
func (c *cluster) ctlJSON(t testing.TB, v any, args ...string) {
	t.Helper()
	r := c.ctl(t, args...)
	if r.code != 0 {
		t.Fatalf("mpcctl %s: exit %d\nstderr: %s", strings.Join(args, " "), r.code, r.stderr)
	}
	if err := json.Unmarshal([]byte(r.stdout), v); err != nil {
		t.Fatalf("mpcctl %s: output is not the expected JSON: %v\n%s", strings.Join(args, " "), err, r.stdout)
	}
}

func (c *cluster) listDevices(t testing.TB) []deviceInfo {
	t.Helper()
	var devs []deviceInfo
	c.ctlJSON(t, &devs, "devices", "list")
	return devs
}

func (c *cluster) listKeys(t testing.TB) []keyInfo {
	t.Helper()
	var keys []keyInfo
	c.ctlJSON(t, &keys, "keys", "list")
	return keys
}

// rpcError is a failed mpcctl call: "mpcctl: <Code>: <message>", exit 1.
type rpcError struct {
	Code string
	Msg  string
}

var rpcErrorRE = regexp.MustCompile(`(?m)^mpcctl: ([A-Za-z]+): (.*)$`)

// ctlErr runs mpcctl, requires it to fail with a gRPC error and returns it.
func (c *cluster) ctlErr(t testing.TB, args ...string) rpcError {
	t.Helper()
	r := c.ctl(t, args...)
	if r.code != 1 {
		t.Fatalf("mpcctl %s: want exit status 1, got %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	}
	m := rpcErrorRE.FindStringSubmatch(r.stderr)
	if m == nil {
		t.Fatalf("mpcctl %s: stderr is not 'mpcctl: <Code>: <message>':\n%s", strings.Join(args, " "), r.stderr)
	}
	return rpcError{Code: m[1], Msg: m[2]}
}

// expectRPC checks an error's code and that its message names every want
// (case-insensitively).
func expectRPC(t testing.TB, e rpcError, code codes.Code, want ...string) {
	t.Helper()
	if e.Code != code.String() {
		t.Errorf("got %s: %q, want code %s", e.Code, e.Msg, code)
	}
	for _, w := range want {
		if !strings.Contains(strings.ToLower(e.Msg), strings.ToLower(w)) {
			t.Errorf("message %q does not mention %q", e.Msg, w)
		}
	}
}
