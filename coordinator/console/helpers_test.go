package console

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/preparams"
	"github.com/mpcsign/mpcsign/keystore"
	"github.com/mpcsign/mpcsign/party"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// clock is a settable clock for session expiry.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// fixture is a real coordinator (its own BadgerDB, not serving gRPC) with
// the console in front of it over TLS.
type fixture struct {
	t      *testing.T
	srv    *coordinator.Server
	web    *httptest.Server
	admin  string // the admin token
	signer string
	clock  *clock
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	return newFixtureWith(t, func(s *coordinator.Server) Coordinator { return s })
}

// newFixtureWith puts wrap(server) behind the console, to change answers.
func newFixtureWith(t *testing.T, wrap func(*coordinator.Server) Coordinator) *fixture {
	t.Helper()
	return newFixtureOn(t, nil, wrap)
}

// newFixtureOn is newFixtureWith with the coordinator's records in st
// (nil: its own Badger store); the coordinator closes st.
func newFixtureOn(t *testing.T, st coordinator.Store, wrap func(*coordinator.Server) Coordinator) *fixture {
	t.Helper()
	dir := t.TempDir()
	srv, err := coordinator.New(coordinator.Options{DataDir: dir, Advertise: "127.0.0.1:7400", Store: st})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	clk := &clock{t: time.Now()}
	con, err := New(Options{Coordinator: wrap(srv), GetCertificate: srv.GetCertificate, Now: clk.now})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewUnstartedServer(con.Handler())
	web.StartTLS()
	t.Cleanup(web.Close)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	return &fixture{t: t, srv: srv, web: web, admin: read("admin.token"), signer: read("signer.token"), clock: clk}
}

// browser is an HTTP client with a cookie jar that does not follow
// redirects, and sends the headers a browser sends on a same-origin POST.
type browser struct {
	f      *fixture
	client *http.Client
	origin string // Origin header of POSTs; "" for none
	site   string // Sec-Fetch-Site of POSTs; "" for none
}

func (f *fixture) browser() *browser {
	jar, _ := cookiejar.New(nil)
	c := *f.web.Client() // a copy: the server's client is shared
	c.Jar = jar
	c.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
	return &browser{f: f, client: &c, origin: f.web.URL, site: "same-origin"}
}

type page struct {
	status int
	header http.Header
	body   string
}

func (b *browser) do(req *http.Request) page {
	b.f.t.Helper()
	resp, err := b.client.Do(req)
	if err != nil {
		b.f.t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		b.f.t.Fatal(err)
	}
	return page{resp.StatusCode, resp.Header, string(body)}
}

func (b *browser) get(path string) page {
	req, _ := http.NewRequest("GET", b.f.web.URL+path, nil)
	return b.do(req)
}

func (b *browser) post(path string, form url.Values) page {
	req, _ := http.NewRequest("POST", b.f.web.URL+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if b.origin != "" {
		req.Header.Set("Origin", b.origin)
	}
	if b.site != "" {
		req.Header.Set("Sec-Fetch-Site", b.site)
	}
	return b.do(req)
}

func (b *browser) signIn(token string) page {
	return b.post("/login", url.Values{"token": {token}})
}

var csrfField = regexp.MustCompile(`name="csrf" value="([^"]+)"`)

// csrf reads the CSRF token from a signed-in page.
func (b *browser) csrf() string {
	b.f.t.Helper()
	p := b.get("/devices")
	m := csrfField.FindStringSubmatch(p.body)
	if m == nil {
		b.f.t.Fatalf("no CSRF field on /devices (status %d)", p.status)
	}
	return m[1]
}

func (b *browser) signedIn() *browser {
	b.f.t.Helper()
	if p := b.signIn(b.f.admin); p.status != http.StatusSeeOther || p.header.Get("Location") != "/devices" {
		b.f.t.Fatalf("sign-in: status %d, location %q: %s", p.status, p.header.Get("Location"), p.body)
	}
	return b
}

// inline is markup that a strict CSP blocks: inline scripts, styles and
// event handlers.
var inline = regexp.MustCompile(`<script>|<script [^>]*>[^<]|<style|\sstyle=|\son[a-z]+=`)

func noInline(t *testing.T, name string, p page) {
	t.Helper()
	if !strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
		t.Errorf("%s is not an HTML page: %q (status %d)", name, p.header.Get("Content-Type"), p.status)
	}
	if inline.MatchString(p.body) {
		t.Errorf("%s has inline script or style: %q", name, inline.FindString(p.body))
	}
}

// adminContext is the admin token's caller context, as the console uses it.
func adminContext(t *testing.T, f *fixture) context.Context {
	t.Helper()
	tok, err := f.srv.CheckAdminToken(f.admin)
	if err != nil {
		t.Fatal(err)
	}
	ctx, err := f.srv.AsAdmin(context.Background(), tok)
	if err != nil {
		t.Fatal(err)
	}
	return ctx
}

func auditEntries(t *testing.T, f *fixture) []auditlog.Entry {
	t.Helper()
	resp, err := f.srv.ExportAudit(adminContext(t, f), &mpcv1.ExportAuditRequest{SinceSeq: 1})
	if err != nil {
		t.Fatal(err)
	}
	var out []auditlog.Entry
	for _, b := range resp.GetEntries() {
		var e auditlog.Entry
		if err := json.Unmarshal(b, &e); err != nil {
			t.Fatal(err)
		}
		out = append(out, e)
	}
	return out
}

// chromium finds the browser. It is not optional: without it this test
// fails (CI installs Debian's chromium package in .ci/run).
func chromium(t *testing.T) string {
	t.Helper()
	for _, p := range []string{os.Getenv("MPCSIGN_CHROMIUM"), "/usr/bin/chromium", "/usr/bin/chromium-browser"} {
		if p == "" {
			continue
		}
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	if p, err := exec.LookPath("chromium"); err == nil {
		return p
	}
	t.Fatalf("the web console's browser test needs Chromium: install it (Debian: apt-get install -y chromium; .ci/run does) or name it in MPCSIGN_CHROMIUM (CI=%q)", os.Getenv("CI"))
	return ""
}

// artefacts is where the screenshots go: $MPCSIGN_ARTIFACTS/console, or
// artifacts/console at the module's root (which git ignores). The test
// names the folder at its end.
func artefacts(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("MPCSIGN_ARTIFACTS")
	if dir == "" {
		dir = filepath.Join(testkit.ModuleRoot(), "artifacts")
	}
	dir, err := filepath.Abs(filepath.Join(dir, "console"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { t.Logf("the screenshots of this run are in %s", dir) })
	return dir
}

// spkiPin is the base64 SHA-256 of the certificate's public key, for
// Chromium's --ignore-certificate-errors-spki-list: the browser accepts the
// coordinator's self-signed certificate and nothing else.
func spkiPin(t *testing.T, getCert func(*tls.ClientHelloInfo) (*tls.Certificate, error)) string {
	t.Helper()
	cert, err := getCert(&tls.ClientHelloInfo{})
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(cert.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(leaf.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// enrol enrols a device with a pairing code read off the page, and starts
// its agent with TEST-ONLY pre-parameters. It returns the device's SAS.
func enrol(t *testing.T, c *testkit.Cluster, name, code string, sets []*preparams.Set) string {
	t.Helper()
	ks, err := keystore.Open(filepath.Join(c.Dir, name), keystore.NewPassphrase([]byte("test passphrase "+name)), keystore.Options{KDF: testkit.TestKDF})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := party.Enroll(context.Background(), ks, code)
	if err != nil {
		ks.Close()
		t.Fatalf("enrol %s with the code on the page: %v", name, err)
	}
	a, err := party.New(party.Options{Store: ks, Logger: c.Log.With("proc", name), PoolTarget: len(sets), MaxBackoff: 200 * time.Millisecond})
	if err != nil {
		ks.Close()
		t.Fatal(err)
	}
	a.Pool().AcceptTestFixtures()
	a.Pool().FixturesOnly()
	for _, s := range sets {
		if err := a.Pool().Add(s); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; ks.Close() })
	if !cfg.PendingApproval || cfg.SAS == "" {
		t.Fatalf("%s enrolled without waiting for approval", name)
	}
	return cfg.SAS
}
