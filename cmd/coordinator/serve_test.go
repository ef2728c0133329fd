package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/internal/tlspin"
)

// syncBuffer is the command's output, read while it runs.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serveInProcess runs `coordinator serve` with args (and no environment),
// waits until it has printed want, and returns its output. The server
// stops at the test's end.
func serveInProcess(t *testing.T, want string, args ...string) *syncBuffer {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	root := newRootCmd(nil, runServe)
	var out syncBuffer
	root.SetOut(&out)
	root.SetErr(io.Discard)
	root.SetArgs(append([]string{"serve", "--data", t.TempDir(), "--listen", "127.0.0.1:0", "--log-level", "error"}, args...))
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	deadline := time.Now().Add(time.Minute) // a hang guard
	for !strings.Contains(out.String(), want) {
		select {
		case err := <-done:
			done <- err
			t.Fatalf("serve ended early: %v\n%s", err, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("serve did not print %q:\n%s", want, out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	return &out
}

var (
	consoleLine = regexp.MustCompile(`web console: +https://(127\.0\.0\.1:\d+)/`)
	fingerprint = regexp.MustCompile(`certificate fingerprint: +(\S+)`)
)

// The web console is off by default, and --console-listen alone turns it
// on: it then serves the sign-in page over TLS with the coordinator's own
// (pinned) certificate.
func TestServeConsoleFlag(t *testing.T) {
	// The console's line would follow the signer token's at once, without
	// blocking; the grace period is generous.
	off := serveInProcess(t, "signer token file:")
	time.Sleep(500 * time.Millisecond)
	if out := off.String(); strings.Contains(out, "web console") {
		t.Fatalf("serve without --console-listen started the console:\n%s", out)
	}

	out := serveInProcess(t, "web console:", "--console-listen", "127.0.0.1:0").String()
	addr, fp := consoleLine.FindStringSubmatch(out), fingerprint.FindStringSubmatch(out)
	if addr == nil || fp == nil {
		t.Fatalf("serve --console-listen did not print the console's address and the fingerprint:\n%s", out)
	}
	pinned, err := tlspin.ClientConfig(fp[1])
	if err != nil {
		t.Fatal(err)
	}
	client := &http.Client{Transport: &http.Transport{TLSClientConfig: pinned}, Timeout: 30 * time.Second}
	defer client.CloseIdleConnections()
	resp, err := client.Get("https://" + addr[1] + "/login")
	if err != nil {
		t.Fatalf("GET /login on the console: %v", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 || !strings.Contains(string(body), `id="token"`) {
		t.Fatalf("GET /login: %d, %q", resp.StatusCode, body)
	}
}
