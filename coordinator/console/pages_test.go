package console

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/tlspin"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// No API token, and no part of one, appears in any page, JSON answer or
// export the console serves.
func TestNoTokenInAnyPage(t *testing.T) {
	f := newFixture(t)
	b := f.browser().signedIn()
	token := b.csrf()
	ctx := adminContext(t, f)
	extra, err := f.srv.CreateToken(ctx, &mpcv1.CreateTokenRequest{Role: mpcv1.TokenRole_TOKEN_ROLE_SIGNER, Name: "wallet-eu"})
	if err != nil {
		t.Fatal(err)
	}
	secrets := []string{f.admin, f.signer, extra.GetToken()}
	pair := b.post("/devices/pair", url.Values{"name": {"phone"}, "csrf": {token}})
	bodies := map[string]string{"pair": pair.body}
	for _, path := range []string{"/devices", "/keys", "/roster", "/requesters", "/audit", "/audit?action=token.create", "/audit/export", "/sessions",
		"/reshares", "/api/reshares", "/api/pairing?name=phone", "/api/drill?key=k1", "/login", "/devices/revoke?device=nobody"} {
		bodies[path] = b.get(path).body
	}
	bodies["approve"] = b.post("/devices/approve", url.Values{"device": {"phone"}, "sas": {"1"}, "csrf": {token}}).body
	bodies["flash"] = b.get("/devices").body
	for name, body := range bodies {
		for _, s := range secrets {
			secret := strings.TrimPrefix(s, "mpct_")
			if strings.Contains(body, secret) || strings.Contains(body, secret[:16]) {
				t.Errorf("%s shows an API token", name)
			}
		}
	}
	if !strings.Contains(bodies["/audit"], "token.create") || !strings.Contains(bodies["/audit/export"], `"action":"token.create"`) {
		t.Errorf("the audit page or export lacks the token.create entry")
	}
}

func TestAuditExportVerifies(t *testing.T) {
	f := newFixture(t)
	b := f.browser().signedIn()
	token := b.csrf()
	for _, name := range []string{"a", "b", "c"} {
		b.post("/devices/pair", url.Values{"name": {name}, "csrf": {token}})
	}
	p := b.get("/audit/export")
	if p.header.Get("Content-Type") != "application/jsonl" || !strings.Contains(p.header.Get("Content-Disposition"), "attachment") {
		t.Fatalf("export headers: %v", p.header)
	}
	n, _, err := auditlog.Verify(strings.NewReader(p.body))
	if err != nil || n != 3 {
		t.Fatalf("export: %d entries, %v", n, err)
	}
	filtered := b.get("/audit/export?device=b")
	if strings.Count(filtered.body, "\n") != 1 || !strings.Contains(filtered.body, `"devices":["b"]`) {
		t.Fatalf("filtered export: %q", filtered.body)
	}
	page := b.get("/audit?action=pairing.create&device=c")
	if !strings.Contains(page.body, "1 of 3 entries match") || !strings.Contains(page.body, "Hash chain verified up to entry 3.") {
		t.Fatalf("audit page: %s", page.body)
	}
}

func TestQRSVGDrawsTheCode(t *testing.T) {
	svg, err := qrSVG("mpc1-AAAAexample")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(svg, "<svg ") || !strings.HasSuffix(svg, "</svg>") {
		t.Fatalf("not an svg: %s", svg)
	}
	// Only fixed markup and numbers: nothing of the text itself.
	if strings.Contains(svg, "example") || regexp.MustCompile(`d="[^"]*[^MhvzZ0-9 -][^"]*"`).MatchString(svg) {
		t.Fatalf("unexpected path data: %s", svg)
	}
	if _, err := qrSVG(strings.Repeat("x", 5000)); err == nil {
		t.Fatal("a text too long for a QR code was drawn")
	}
}

// The console serves TLS with the coordinator's own certificate.
func TestServeUsesTheCoordinatorsCertificate(t *testing.T) {
	f := newFixture(t)
	con, err := New(Options{Coordinator: f.srv, GetCertificate: f.srv.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := (&net.ListenConfig{}).Listen(context.Background(), "tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- con.Serve(ctx, lis) }()
	// The client pins the coordinator's fingerprint, as mpcctl and devices do.
	pinned, err := tlspin.ClientConfig(f.srv.Fingerprint())
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", lis.Addr().String(), pinned)
	if err != nil {
		t.Fatalf("the console's certificate is not the coordinator's pinned one: %v", err)
	}
	if v := conn.ConnectionState().Version; v != tls.VersionTLS13 {
		t.Errorf("TLS version %x", v)
	}
	conn.Close()
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// canned answers some admin methods with fixed data; the rest is the real
// coordinator.
type canned struct {
	*coordinator.Server
	keys     *mpcv1.ListKeysResponse
	sessions *mpcv1.ListSessionsResponse
	drill    func(context.Context, *mpcv1.DrillKeyRequest) (*mpcv1.DrillKeyResponse, error)
}

func (c canned) DrillKey(ctx context.Context, req *mpcv1.DrillKeyRequest) (*mpcv1.DrillKeyResponse, error) {
	return c.drill(ctx, req)
}

func (c canned) ListKeys(context.Context, *mpcv1.ListKeysRequest) (*mpcv1.ListKeysResponse, error) {
	return c.keys, nil
}

func (c canned) ListSessions(context.Context, *mpcv1.ListSessionsRequest) (*mpcv1.ListSessionsResponse, error) {
	return c.sessions, nil
}

// The Keys page shows addresses and the last drill's report; the Sessions
// page the culprits of an aborted session. Text from devices is escaped.
func TestKeysAndSessionsPages(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	key := &mpcv1.Key{Id: "k0123", Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: 1, PublicKey: []byte{2, 0xab, 0xcd}, Epoch: 4,
		Holders:   []*mpcv1.KeyHolder{{DeviceName: "phone"}, {DeviceName: "laptop"}, {DeviceName: "server"}},
		Addresses: &mpcv1.Addresses{Ethereum: "0xAbC123", BitcoinP2Wpkh: "bc1qxyz"},
		LastReshare: &mpcv1.ReshareReport{Ok: false, Error: "devices offline: server", FromEpoch: 4, ToEpoch: 5, OldCommittee: []string{"phone", "laptop", "server"},
			Steps: []*mpcv1.ReshareStep{{Name: "plan", Ok: true, DurationMs: 12}, {Name: "reshare", Ok: false, DurationMs: 1500, Detail: "<b>late</b>"}}},
	}
	sessions := &mpcv1.ListSessionsResponse{Sessions: []*mpcv1.SessionInfo{
		{Id: "r1", Kind: "sign", KeyId: "k0123", Devices: []string{"phone", "laptop"}, Running: true, StartedAt: timestamppb.New(now)},
		{Id: "f1", Kind: "sign", KeyId: "k0123", Devices: []string{"phone", "server"}, StartedAt: timestamppb.New(now.Add(-time.Minute)),
			FinishedAt: timestamppb.New(now.Add(-time.Minute + 2*time.Second)), Reason: "the protocol failed: <script>x</script>", Culprits: []string{"server"}, Blame: "accuser-lied"},
	}}
	f := newFixtureWith(t, func(s *coordinator.Server) Coordinator {
		return canned{Server: s, keys: &mpcv1.ListKeysResponse{Keys: []*mpcv1.Key{key}}, sessions: sessions}
	})
	b := f.browser().signedIn()
	keys := b.get("/keys").body
	for _, want := range []string{"02abcd", "0xAbC123", "bc1qxyz", "any 2 of 3 devices sign", "phone, laptop, server", "devices offline: server",
		"epoch 4 → 5", "not committed", "1.5 s", "&lt;b&gt;late&lt;/b&gt;", `name="key" value="k0123"`} {
		if !strings.Contains(keys, want) {
			t.Errorf("keys page lacks %q", want)
		}
	}
	page := b.get("/sessions").body
	running, recent, _ := strings.Cut(page, `id="recent"`)
	if !strings.Contains(running, `id="running"`) || !strings.Contains(running, "phone, laptop") {
		t.Errorf("the running session is not listed as running")
	}
	for _, want := range []string{"aborted", "blamed: server", "accuser lied (its evidence cleared the accused)", "the protocol failed: &lt;script&gt;x&lt;/script&gt;", "2.0 s"} {
		if !strings.Contains(recent, want) {
			t.Errorf("sessions page lacks %q", want)
		}
	}
}

// The drill button starts a drill in the background, under the signed-in
// token; the Keys page shows it running, refuses a second one, and shows
// why it failed.
func TestDrillButton(t *testing.T) {
	key := &mpcv1.Key{Id: "k0123", Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: 1, PublicKey: []byte{2, 1},
		Holders: []*mpcv1.KeyHolder{{DeviceName: "phone"}, {DeviceName: "laptop"}}}
	release := make(chan error)
	type call struct {
		key, actor string
		live       bool
	}
	calls := make(chan call, 1)
	var srv *coordinator.Server
	f := newFixtureWith(t, func(s *coordinator.Server) Coordinator {
		srv = s
		return canned{Server: s, keys: &mpcv1.ListKeysResponse{Keys: []*mpcv1.Key{key}},
			drill: func(ctx context.Context, req *mpcv1.DrillKeyRequest) (*mpcv1.DrillKeyResponse, error) {
				// Who is calling: the coordinator audits a token creation under ctx's caller.
				_, err := s.CreateToken(ctx, &mpcv1.CreateTokenRequest{Role: mpcv1.TokenRole_TOKEN_ROLE_SIGNER, Name: "probe"})
				calls <- call{key: req.GetKeyId(), actor: fmt.Sprint(err), live: ctx.Err() == nil}
				if err := <-release; err != nil {
					return nil, err
				}
				return &mpcv1.DrillKeyResponse{Report: &mpcv1.ReshareReport{Ok: false, Error: "devices offline: laptop"}}, nil
			}}
	})
	b := f.browser().signedIn()
	token := b.csrf()
	p := b.post("/keys/drill", url.Values{"key": {"k0123"}, "csrf": {token}})
	if p.status != http.StatusSeeOther || p.header.Get("Location") != "/keys#k0123" {
		t.Fatalf("drill: %d %q", p.status, p.header.Get("Location"))
	}
	c := <-calls
	if c.key != "k0123" || c.actor != "<nil>" || !c.live {
		t.Fatalf("drill call: %+v (its context must carry the token and outlive the request)", c)
	}
	tok, _ := srv.CheckAdminToken(f.admin)
	if es := auditEntries(t, f); es[len(es)-1].Actor != "token:"+tok.ID {
		t.Fatalf("the drill ran as %q, want token:%s", es[len(es)-1].Actor, tok.ID)
	}
	page := b.get("/keys").body
	if !strings.Contains(page, "Drill of k0123 started") || !strings.Contains(page, `data-drill="k0123"`) || strings.Contains(page, `class="drill"`) {
		t.Fatalf("keys page while the drill runs: %s", page)
	}
	if p := b.get("/api/drill?key=k0123"); !strings.Contains(p.body, `"running":true`) {
		t.Fatalf("drill status: %s", p.body)
	}
	if p := b.post("/keys/drill", url.Values{"key": {"k0123"}, "csrf": {token}}); p.status != http.StatusSeeOther || !strings.Contains(b.get("/keys").body, "already running") {
		t.Fatalf("a second drill of the same key was not refused")
	}
	release <- nil
	for !strings.Contains(b.get("/api/drill?key=k0123").body, `"running":false`) {
		time.Sleep(10 * time.Millisecond)
	}
	page = b.get("/keys").body
	if !strings.Contains(page, "devices offline: laptop") || !strings.Contains(page, `class="drill"`) {
		t.Fatalf("keys page after a failed drill: %s", page)
	}

	// A drill the coordinator refuses shows the coordinator's safe message.
	b.post("/keys/drill", url.Values{"key": {"k0123"}, "csrf": {token}})
	<-calls
	release <- status.Error(codes.FailedPrecondition, "every device of the new committee must be online; offline: laptop")
	for !strings.Contains(b.get("/api/drill?key=k0123").body, `"running":false`) {
		time.Sleep(10 * time.Millisecond)
	}
	if page := b.get("/keys").body; !strings.Contains(page, "offline: laptop") {
		t.Fatalf("keys page after a refused drill: %s", page)
	}
}

// fixedAudit answers ExportAudit with a fixed log (set by the test, which
// may tamper with it); the rest is the real coordinator.
type fixedAudit struct {
	*coordinator.Server
	lines  *[][]byte
	height uint64 // the log's head, as the coordinator's store knows it
}

func (a fixedAudit) ExportAudit(_ context.Context, req *mpcv1.ExportAuditRequest) (*mpcv1.ExportAuditResponse, error) {
	resp := &mpcv1.ExportAuditResponse{Height: a.height}
	for i, l := range *a.lines {
		if uint64(i+1) >= req.GetSinceSeq() {
			resp.Entries = append(resp.Entries, l)
		}
	}
	return resp, nil
}

// sealedLog is a correctly chained audit log of entries.
func sealedLog(t *testing.T, entries []auditlog.Entry) ([]auditlog.Entry, [][]byte) {
	t.Helper()
	var prev *auditlog.Entry
	var sealed []auditlog.Entry
	var lines [][]byte
	for _, e := range entries {
		e = auditlog.Seal(e, prev)
		b, err := auditlog.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		sealed, lines = append(sealed, e), append(lines, b)
		prev = &sealed[len(sealed)-1]
	}
	return sealed, lines
}

var auditSeqs = regexp.MustCompile(`<tr data-seq="(\d+)"`)

// The Audit page lists entries newest first, filters by key and action, and
// says where the hash chain breaks when an entry was edited or deleted.
func TestAuditPageOrderFilterAndChain(t *testing.T) {
	at := time.Date(2026, 5, 6, 7, 0, 0, 0, time.UTC)
	sealed, lines := sealedLog(t, []auditlog.Entry{
		{Time: at, Action: "pairing.create", Result: "ok", Devices: []string{"phone"}},
		{Time: at.Add(time.Minute), Action: "key.create", Result: "ok", KeyID: "kA", Devices: []string{"phone", "laptop"}},
		{Time: at.Add(2 * time.Minute), Action: "sign", Result: "ok", KeyID: "kA"},
		{Time: at.Add(3 * time.Minute), Action: "key.create", Result: "ok", KeyID: "kB", Devices: []string{"phone", "laptop"}},
		{Time: at.Add(4 * time.Minute), Action: "sign", Result: "failed", KeyID: "kB"},
		{Time: at.Add(5 * time.Minute), Action: "device.revoke", Result: "ok", Devices: []string{"laptop"}},
	})
	log := lines
	f := newFixtureWith(t, func(s *coordinator.Server) Coordinator { return fixedAudit{Server: s, lines: &log, height: 6} })
	b := f.browser().signedIn()
	seqs := func(path string) string {
		t.Helper()
		p := b.get(path)
		if p.status != http.StatusOK {
			t.Fatalf("%s: %d", path, p.status)
		}
		var out []string
		for _, m := range auditSeqs.FindAllStringSubmatch(p.body, -1) {
			out = append(out, m[1])
		}
		return strings.Join(out, ",")
	}
	for path, want := range map[string]string{
		"/audit":                     "6,5,4,3,2,1",
		"/audit?key=kA":              "3,2",
		"/audit?action=sign":         "5,3",
		"/audit?action=key.create":   "4,2",
		"/audit?key=kB&action=sign":  "5",
		"/audit?key=kA&action=sign":  "3",
		"/audit?device=laptop":       "6,4,2",
		"/audit?key=kC":              "",
		"/audit?action=device.enrol": "",
	} {
		if got := seqs(path); got != want {
			t.Errorf("%s lists entries %q, want %q", path, got, want)
		}
	}
	if p := b.get("/audit?key=kA&action=sign"); !strings.Contains(p.body, "1 of 6 entries match") {
		t.Errorf("filtered audit page does not count its matches")
	}

	chain := regexp.MustCompile(`(?s)<p class="chain (\w+)" id="chain-status">\s*(.*?)\s*</p>`)
	status := func() (string, string) {
		t.Helper()
		m := chain.FindStringSubmatch(b.get("/audit").body)
		if m == nil {
			t.Fatal("no chain status on the audit page")
		}
		return m[1], strings.Join(strings.Fields(m[2]), " ")
	}
	if class, text := status(); class != "ok" || text != "Hash chain verified up to entry 6." {
		t.Errorf("intact chain: %s %q", class, text)
	}

	// Entry 4 edited after the fact (its hash no longer matches).
	edited := sealed[3]
	edited.Detail = "nothing to see"
	eb, err := auditlog.Marshal(edited)
	if err != nil {
		t.Fatal(err)
	}
	log = slices.Clone(lines)
	log[3] = eb
	if class, text := status(); class != "broken" || text != "Chain broken: verified up to entry 3 of 6. Entry 4: the entry&#39;s contents do not match its hash (edited)." {
		t.Errorf("edited entry 4: %s %q", class, text)
	}
	// Entry 4 edited and resealed: entry 5 no longer chains to it.
	resealed := auditlog.Seal(edited, &sealed[2])
	if eb, err = auditlog.Marshal(resealed); err != nil {
		t.Fatal(err)
	}
	log[3] = eb
	if class, text := status(); class != "broken" || text != "Chain broken: verified up to entry 4 of 6. Entry 5: does not chain to the entry before it (deleted, inserted or reordered)." {
		t.Errorf("resealed entry 4: %s %q", class, text)
	}
	// Entry 2 deleted.
	log = slices.Concat(lines[:1], lines[2:])
	if class, text := status(); class != "broken" || !strings.HasPrefix(text, "Chain broken: verified up to entry 1 of 6. Entry 2: sequence jumps from 1 to 3") {
		t.Errorf("deleted entry 2: %s %q", class, text)
	}
	// Entry 1 deleted: the log must start at entry 1.
	log = slices.Clone(lines[1:])
	if class, text := status(); class != "broken" || !strings.HasPrefix(text, "Chain broken: verified up to entry 0 of 6. Entry 1: the export starts at seq 2, not at the log&#39;s first entry") {
		t.Errorf("deleted entry 1: %s %q", class, text)
	}
	// Entry 6 shown to a reader as another action: Go takes the last of
	// keys that differ in case only, so it hashes as sealed.
	log = slices.Clone(lines)
	log[5] = []byte(strings.TrimSuffix(strings.Replace(string(lines[5]), `"action":"device.revoke"`, `"action":"device.enroll"`, 1), "}") + `,"Action":"device.revoke"}`)
	if class, text := status(); class != "broken" || !strings.HasPrefix(text, "Chain broken: verified up to entry 5 of 6. Entry 6: not in the log&#39;s canonical form") {
		t.Errorf("entry 6 with a case-variant key: %s %q", class, text)
	}
}

// cannedAll also answers ListDevices and ListReshareJobs with fixed data.
type cannedAll struct {
	canned
	devices *mpcv1.ListDevicesResponse
	jobs    *mpcv1.ListReshareJobsResponse
}

func (c cannedAll) ListDevices(context.Context, *mpcv1.ListDevicesRequest) (*mpcv1.ListDevicesResponse, error) {
	return c.devices, nil
}

func (c cannedAll) ListReshareJobs(context.Context, *mpcv1.ListReshareJobsRequest) (*mpcv1.ListReshareJobsResponse, error) {
	return c.jobs, nil
}

// The pages with the most markup (a pairing code with its QR code, a
// revocation's plan, reshares in progress, keys with both reports) have no
// inline script or style either: the CSP would block them. Text from
// devices shows escaped.
func TestNoInlineCodeOnBusyPages(t *testing.T) {
	now := time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC)
	report := func(kind string, ok bool) *mpcv1.ReshareReport {
		return &mpcv1.ReshareReport{Kind: kind, Ok: ok, Committed: ok, StartedAt: timestamppb.New(now), FromEpoch: 1, ToEpoch: 2,
			OldCommittee: []string{"phone", "laptop"}, NewCommittee: []string{"phone", "laptop"}, Error: map[bool]string{false: "<i>offline</i>"}[ok],
			Steps: []*mpcv1.ReshareStep{{Name: "plan", Ok: true, DurationMs: 3, Detail: "<b>late</b>"}, {Name: "test signature", Ok: ok, DurationMs: 900}}}
	}
	key := &mpcv1.Key{Id: "k0123", Curve: mpcv1.Curve_CURVE_SECP256K1, Threshold: 1, PublicKey: []byte{2, 1}, Epoch: 2,
		Holders:     []*mpcv1.KeyHolder{{DeviceId: "d1", DeviceName: "phone"}, {DeviceId: "d2", DeviceName: "laptop"}, {DeviceId: "d3", DeviceName: "server"}},
		LastReshare: report("revocation", true), LastDrill: report("drill", false)}
	devices := &mpcv1.ListDevicesResponse{Devices: []*mpcv1.Device{
		{Id: "d1", Name: "phone", Status: mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE},
		{Id: "d2", Name: "laptop", Status: mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE},
		{Id: "d3", Name: "server", Status: mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE},
	}}
	jobs := &mpcv1.ListReshareJobsResponse{Jobs: []*mpcv1.ReshareJob{
		{KeyId: "k0123", State: mpcv1.ReshareJobState_RESHARE_JOB_STATE_RUNNING, Detail: "<script>x</script>", Attempts: 2, NewCommittee: []string{"phone", "laptop"}},
		{KeyId: "k0456", State: mpcv1.ReshareJobState_RESHARE_JOB_STATE_BLOCKED, Detail: "too few holders remain"},
	}}
	f := newFixtureWith(t, func(s *coordinator.Server) Coordinator {
		return cannedAll{canned: canned{Server: s, keys: &mpcv1.ListKeysResponse{Keys: []*mpcv1.Key{key}}}, devices: devices, jobs: jobs}
	})
	b := f.browser().signedIn()
	pages := map[string]page{
		"pair":     b.post("/devices/pair", url.Values{"name": {"tablet"}, "csrf": {b.csrf()}}),
		"revoke":   b.get("/devices/revoke?device=server"),
		"reshares": b.get("/reshares?device=server&keys=k0123,k0456"),
		"keys":     b.get("/keys"),
		"devices":  b.get("/devices"),
	}
	wants := map[string][]string{
		"pair":     {"mpc1", "<svg", `id="pair-status"`},
		"revoke":   {"k0123", `id="confirm-revoke"`},
		"reshares": {"&lt;script&gt;x&lt;/script&gt;", "(attempt 2)", "k0456", `data-finished="false"`},
		"keys":     {`class="report drill-report"`, `class="report reshare-report"`, "Last drill:", "Last reshare (revocation):", "&lt;i&gt;offline&lt;/i&gt;", "&lt;b&gt;late&lt;/b&gt;"},
	}
	for name, p := range pages {
		if p.status != http.StatusOK {
			t.Errorf("%s: status %d", name, p.status)
		}
		noInline(t, name, p)
		for _, w := range wants[name] {
			if !strings.Contains(p.body, w) {
				t.Errorf("%s lacks %q", name, w)
			}
		}
	}
}

// A key's last drill and last reshare show apart. (A key whose last drill
// was kept before drills were kept apart gets it from the coordinator:
// coordinator.TestLastDrill.)
func TestViewKeyReports(t *testing.T) {
	drill := &mpcv1.ReshareReport{Kind: "drill", Ok: true, ToEpoch: 1}
	revocation := &mpcv1.ReshareReport{Kind: "revocation", Ok: true, ToEpoch: 2}
	for _, tc := range []struct {
		name                string
		key                 *mpcv1.Key
		wantDrill, wantLast string
	}{
		{"none", &mpcv1.Key{}, "", ""},
		{"both", &mpcv1.Key{LastDrill: drill, LastReshare: revocation}, "drill", "revocation"},
		{"revocation only", &mpcv1.Key{LastReshare: revocation}, "", "revocation"},
	} {
		v := viewKey(tc.key)
		kind := func(r *reportView) string {
			if r == nil {
				return ""
			}
			return r.Kind
		}
		if kind(v.LastDrill) != tc.wantDrill || kind(v.Last) != tc.wantLast {
			t.Errorf("%s: last drill %q, last reshare %q; want %q, %q", tc.name, kind(v.LastDrill), kind(v.Last), tc.wantDrill, tc.wantLast)
		}
	}
}
