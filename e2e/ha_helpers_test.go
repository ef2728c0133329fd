package e2e

import (
	"bytes"
	"context"
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/coordinator/registry/postgres/pgtest"
	"github.com/mpcsign/mpcsign/internal/replicas"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/signclient"
)

// The HA tests run several coordinator replicas ('coordinator serve
// --store postgres://...') on one PostgreSQL server the test starts. The
// cluster's coordinator (c.coord, c.coordDir) is the first replica, which
// takes the leader lease; the others copy its TLS identity and token files,
// as docs/ha.md tells operators to, and stand by.

var standingByRE = regexp.MustCompile(`coordinator replica standing by on (\S+)`)

// replica is one coordinator replica process.
type replica struct {
	name, dir, addr string
	proc            *proc
}

// newPostgresCluster is a cluster whose coordinator keeps its records in a
// fresh database of a PostgreSQL server the test starts.
func newPostgresCluster(t *testing.T) *cluster {
	c, _ := newPostgresClusterOn(t)
	return c
}

// newPostgresClusterOn is newPostgresCluster, and its server.
func newPostgresClusterOn(t *testing.T) (*cluster, *pgtest.Server) {
	t.Helper()
	pg, err := pgtest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pg.Stop)
	db, err := pg.CreateDB()
	if err != nil {
		t.Fatalf("create the database: %v\n%s", err, pg.LogTail())
	}
	c := newCluster(t)
	c.storeURL = pg.URL(db)
	return c, pg
}

// first is the cluster's coordinator as a replica.
func (c *cluster) first() *replica {
	return &replica{name: "coordinator", dir: c.coordDir, addr: c.addr, proc: c.coord}
}

// startStandby starts another replica of the cluster's coordinator with
// binary, sharing its TLS identity and tokens, and waits until it stands by.
func (c *cluster) startStandby(t testing.TB, name, binary string, env []string, args ...string) *replica {
	t.Helper()
	dir := filepath.Join(c.dir, name)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"tls.crt", "tls.key", "admin.token", "signer.token"} {
		b, err := os.ReadFile(filepath.Join(c.coordDir, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	full := append([]string{binary, "serve", "--data", dir, "--listen", "127.0.0.1:0", "--store", c.storeURL}, args...)
	p := c.startService(t, name, c.env(env...), full...)
	m := waitOutput(t, p, standingByRE, startTimeout)
	return &replica{name: name, dir: dir, addr: m[1], proc: p}
}

// waitOutput waits until p's standard output matches re and returns the match.
func waitOutput(t testing.TB, p *proc, re *regexp.Regexp, timeout time.Duration) []string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if m := re.FindStringSubmatch(p.stdout()); m != nil {
			return m
		}
		if p.exited() {
			t.Fatalf("%s exited (code %d)\nstdout:\n%s\nstderr:\n%s", p.name, p.exitCode(), p.stdout(), p.stderr())
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s did not print %q within %s\nstdout:\n%s\nstderr:\n%s", p.name, re, timeout, p.stdout(), p.stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// waitActive waits until standby r has taken over (it prints its banner
// again, as the active coordinator on the same address), and makes it the
// cluster's coordinator: mpcctl reads its client.json from then on.
func (c *cluster) waitActive(t testing.TB, r *replica, timeout time.Duration) {
	t.Helper()
	m := waitOutput(t, r.proc, listeningRE, timeout)
	if m[1] != r.addr {
		t.Fatalf("%s took over on %s; it stood by on %s", r.name, m[1], r.addr)
	}
	c.coord, c.coordDir, c.addr = r.proc, r.dir, r.addr
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(filepath.Join(r.dir, "client.json")); err == nil && bytes.Contains(b, []byte(r.addr)) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s wrote no client.json after taking over", r.name)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// walletClient is a wallet backend's Sign client given every replica's
// address (signclient.Dial), as docs/ha.md tells wallets to be.
func (c *cluster) walletClient(t testing.TB, rs ...*replica) mpcv1.SignerServiceClient {
	t.Helper()
	var addrs []string
	for _, r := range rs {
		addrs = append(addrs, r.addr)
	}
	tok, err := os.ReadFile(filepath.Join(c.coordDir, "signer.token"))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := signclient.Dial(replicas.Join(addrs), string(tok), []string{c.fingerprint})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return mpcv1.NewSignerServiceClient(conn)
}

// signOnce calls Sign with request id id over digest, bounded by timeout.
func signOnce(cl mpcv1.SignerServiceClient, key keyInfo, id string, digest []byte, timeout time.Duration) (*mpcv1.SignResponse, error) {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return cl.Sign(ctx, &mpcv1.SignRequest{KeyId: key.ID, Digest: digest, RequestId: id})
}

// asSignResult is resp as mpcctl prints it, for verifySignature.
func asSignResult(resp *mpcv1.SignResponse) signResult {
	return signResult{
		KeyID: resp.GetKeyId(), R: hex.EncodeToString(resp.GetR()), S: hex.EncodeToString(resp.GetS()), V: resp.GetV(),
		RSV: hex.EncodeToString(resp.GetSignatureRsv()), DER: hex.EncodeToString(resp.GetSignatureDer()), PublicKey: hex.EncodeToString(resp.GetPublicKey()),
		Signers: resp.GetSigners(), Replayed: resp.GetReplayed(),
	}
}

// startFirst starts the cluster's coordinator, the first replica, with
// binary, extra environment and flags, on port 0; it waits until it is
// active and has written its client.json.
func (c *cluster) startFirst(t testing.TB, binary string, env []string, args ...string) *replica {
	t.Helper()
	full := append([]string{binary, "serve", "--data", c.coordDir, "--listen", "127.0.0.1:0", "--store", c.storeURL}, args...)
	p := c.startService(t, "coordinator", c.env(env...), full...)
	c.coord = p
	c.addr = waitOutput(t, p, listeningRE, startTimeout)[1]
	c.fingerprint = waitOutput(t, p, fingerprintRE, startTimeout)[1]
	r := c.first()
	c.waitActive(t, r, startTimeout)
	return r
}

// waitLog waits until p's standard error holds line.
func waitLog(t testing.TB, p *proc, line string, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !strings.Contains(p.stderr(), line) {
		if time.Now().After(deadline) {
			t.Fatalf("%s did not log %q within %s\nstderr:\n%s", p.name, line, timeout, p.stderr())
		}
		time.Sleep(50 * time.Millisecond)
	}
}
