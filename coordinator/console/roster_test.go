package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// clusterFixture puts the console in front of a test cluster's coordinator.
func clusterFixture(t *testing.T, c *testkit.Cluster) *fixture {
	t.Helper()
	con, err := New(Options{Coordinator: c.Server, GetCertificate: c.Server.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewUnstartedServer(con.Handler())
	web.StartTLS()
	t.Cleanup(web.Close)
	return &fixture{t: t, srv: c.Server, web: web, admin: c.Token(t, "admin")}
}

// signedBy encodes b and signs it with the operators.
func signedBy(t *testing.T, b roster.Body, ops ...*testkit.Operator) roster.Entry {
	t.Helper()
	raw, err := roster.EncodeBody(b)
	if err != nil {
		t.Fatal(err)
	}
	e := roster.Entry{Body: raw}
	for _, op := range ops {
		e.Sign(op)
	}
	return e
}

// rowText is the text of the table row whose attr is value, tags removed
// and spaces collapsed ("" without one).
func rowText(body, attr, value string) string {
	m := regexp.MustCompile(`(?s)<tr ` + attr + `="` + regexp.QuoteMeta(value) + `"[^>]*>(.*?)</tr>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], " ")), " ")
}

// rowHTML is the markup of that row.
func rowHTML(body, attr, value string) string {
	m := regexp.MustCompile(`(?s)<tr ` + attr + `="` + regexp.QuoteMeta(value) + `"[^>]*>(.*?)</tr>`).FindStringSubmatch(body)
	if m == nil {
		return ""
	}
	return m[1]
}

var entryHeights = regexp.MustCompile(`<tr data-height="(\d+)"`)

// With a roster, the Roster page shows its entries newest first, who signed
// each and the entry waiting for a second operator with the command that
// signs it; the Devices, Pair, Revoke and Keys pages show the mpcctl
// command in place of each button the coordinator would now refuse.
func TestRosterPages(t *testing.T) {
	c := testkit.New(t, testkit.Options{SignTimeout: 30 * time.Second})
	c.AddDevice(t, "server", nil) // approved before the roster existed
	alice, bob := testkit.NewOperator("alice"), testkit.NewOperator("bob")
	genesis := c.StartRoster(t, alice)
	c.AddDevice(t, "phone", nil) // height 1, signed by alice
	c.AddDevice(t, "laptop", nil)
	ids := c.DeviceIDs(t, "phone", "laptop")

	// An Ed25519 key (no pre-parameters needed), authorized by alice.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang guard
	defer cancel()
	auth := c.SignCeremony(t, alice, roster.CeremonyKeygen, func(cer *roster.Ceremony) {
		cer.Curve, cer.Threshold, cer.Committee = roster.CurveEd25519, 1, ids
	})
	created, err := c.Admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_ED25519, Threshold: 1, Devices: []string{"phone", "laptop"}, Authorization: auth})
	if err != nil {
		t.Fatal(err)
	}
	key := created.GetKey().GetId()

	// Height 3: alice and bob, quorum 2.
	b := c.Roster(t).Next(roster.KindSetOperators, time.Now())
	b.Operators, b.Quorum = []roster.Operator{alice.Info(), bob.Info()}, 2
	c.SubmitRoster(t, signedBy(t, b, alice))

	// The tablet enrols; alice signs its entry, which waits for bob.
	code, err := c.Admin.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: "tablet"})
	if err != nil {
		t.Fatal(err)
	}
	enrol(t, c, "tablet", code.GetCode(), nil)
	add := c.SignAddDevice(t, alice, "tablet")
	sub, err := c.Admin.SubmitRosterEntry(ctx, &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(add)})
	if err != nil || sub.GetAppended() {
		t.Fatalf("alice's signature alone appended the tablet's entry (%v)", err)
	}
	pendingID := add.Hash().String()[:12]
	// The laptop's revocation waits for bob too.
	revoke := c.SignRevoke(t, alice, ids[1], "lost")
	if sub, err := c.Admin.SubmitRosterEntry(ctx, &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(revoke)}); err != nil || sub.GetAppended() {
		t.Fatalf("alice's signature alone appended the laptop's revocation (%v)", err)
	}
	revokeID := revoke.Hash().String()[:12]
	// The tv enrols, and no operator has signed anything for it yet.
	code, err = c.Admin.CreatePairingCode(ctx, &mpcv1.CreatePairingCodeRequest{Name: "tv"})
	if err != nil {
		t.Fatal(err)
	}
	enrol(t, c, "tv", code.GetCode(), nil)

	f := clusterFixture(t, c)
	br := f.browser().signedIn()

	t.Run("roster", func(t *testing.T) {
		p := br.get("/roster")
		if p.status != http.StatusOK {
			t.Fatalf("roster page: %d %s", p.status, p.body)
		}
		noInline(t, "roster", p)
		for _, want := range []string{genesis.String(), `id="roster-height">3<`, "2 of 2 operators", "mpcctl roster verify", `aria-current="page">Roster`} {
			if !strings.Contains(p.body, want) {
				t.Errorf("roster page lacks %q", want)
			}
		}
		for _, op := range []*testkit.Operator{alice, bob} {
			if got, want := rowText(p.body, "data-operator", op.Name), op.Name+" "+keyfile.Fingerprint(op.PublicKey()); got != want {
				t.Errorf("operator row %q, want %q", got, want)
			}
		}
		var heights []string
		for _, m := range entryHeights.FindAllStringSubmatch(p.body, -1) {
			heights = append(heights, m[1])
		}
		if got := strings.Join(heights, ","); got != "3,2,1,0" {
			t.Errorf("entries listed at heights %s, want newest first: 3,2,1,0", got)
		}
		for h, want := range map[string][]string{
			"0": {"genesis", "operators alice; quorum 1", "alice"},
			"1": {"add_device", "device phone (" + ids[0][:8] + ")", "alice"},
			"2": {"add_device", "device laptop (" + ids[1][:8] + ")"},
			"3": {"set_operators", "operators alice, bob; quorum 2", "alice"},
		} {
			row := rowText(p.body, "data-height", h)
			for _, w := range want {
				if !strings.Contains(row, w) {
					t.Errorf("entry %s: %q lacks %q", h, row, w)
				}
			}
		}
		tabletID := c.DeviceIDs(t, "tablet")[0]
		for id, want := range map[string][]string{
			pendingID: {pendingID, "add_device", "device tablet (" + tabletID[:8] + ")", "alice", "1 of 2", "mpcctl roster sign " + pendingID},
			revokeID:  {revokeID, "revoke_device", "device laptop (" + ids[1][:8] + `); reason: &#34;lost&#34;`, "alice", "1 of 2", "mpcctl roster sign " + revokeID},
		} {
			row := rowText(p.body, "data-pending", id)
			for _, w := range want {
				if !strings.Contains(row, w) {
					t.Errorf("pending entry %q lacks %q", row, w)
				}
			}
		}
		if !strings.Contains(p.body, "Waiting for signatures") {
			t.Errorf("roster page has no section for the pending entry")
		}
	})

	t.Run("devices", func(t *testing.T) {
		p := br.get("/devices")
		noInline(t, "devices", p)
		if strings.Contains(p.body, `action="/devices/approve"`) {
			t.Errorf("with a roster the devices page still offers an approve form")
		}
		tv := rowHTML(p.body, "data-device", "tv")
		if !strings.Contains(tv, "mpcctl devices approve tv --sas SAS") || strings.Contains(tv, "/devices/revoke") {
			t.Errorf("pending tv's row: %s", tv)
		}
		// A second operator signs the waiting entries rather than make new ones.
		for name, id := range map[string]string{"tablet": pendingID, "laptop": revokeID} {
			row := rowHTML(p.body, "data-device", name)
			if !strings.Contains(row, "mpcctl roster sign "+id) || strings.Contains(row, "mpcctl devices") || strings.Contains(row, "/devices/revoke") {
				t.Errorf("%s's row, with its entry waiting for signatures: %s", name, row)
			}
		}
		if server := rowHTML(p.body, "data-device", "server"); !strings.Contains(server, "mpcctl roster add-device server --device-id ID") {
			t.Errorf("the device approved before the roster has no add-device command: %s", server)
		}
		phone := rowHTML(p.body, "data-device", "phone")
		if !strings.Contains(phone, `href="/devices/revoke?device=phone"`) || strings.Contains(phone, "mpcctl") {
			t.Errorf("phone's row: %s", phone)
		}
		// A stale approve form: the coordinator refuses it and says what to run.
		br.post("/devices/approve", url.Values{"device": {"tv"}, "sas": {"1"}, "csrf": {br.csrf()}})
		if p := br.get("/devices"); !strings.Contains(p.body, "mpcctl devices approve tv") {
			t.Errorf("a refused approval does not name the command")
		}
	})

	t.Run("pair", func(t *testing.T) {
		p := br.post("/devices/pair", url.Values{"name": {"watch"}, "csrf": {br.csrf()}})
		noInline(t, "pair", p)
		if !strings.Contains(p.body, `id="approve-cmd">mpcctl devices approve watch --sas SAS<`) || strings.Contains(p.body, `id="approve-form"`) {
			t.Errorf("pair page with a roster: %s", p.body)
		}
	})

	t.Run("revoke", func(t *testing.T) {
		p := br.get("/devices/revoke?device=phone")
		noInline(t, "revoke", p)
		for _, want := range []string{key, `id="revoke-cmd">mpcctl devices revoke phone<`,
			"mpcctl devices revoke phone --replace-with laptop", "mpcctl devices revoke phone --replace-with server"} {
			if !strings.Contains(p.body, want) {
				t.Errorf("revoke page lacks %q", want)
			}
		}
		if strings.Contains(p.body, "--replace-with tablet") || strings.Contains(p.body, "--replace-with tv") {
			t.Errorf("a pending device is offered as a replacement")
		}
		if strings.Contains(p.body, `id="revoke-form"`) || strings.Contains(p.body, `id="confirm-revoke"`) {
			t.Errorf("with a roster the revoke page still offers the revoke button")
		}
		p = br.get("/devices/revoke?device=server")
		if !strings.Contains(p.body, `id="add-cmd">mpcctl roster add-device server --device-id ID<`) || !strings.Contains(p.body, `id="revoke-cmd">mpcctl devices revoke server<`) {
			t.Errorf("revoke page of a device not on the roster: %s", p.body)
		}
		p = br.get("/devices/revoke?device=laptop")
		if !strings.Contains(p.body, `id="sign-cmd">mpcctl roster sign `+revokeID+`<`) || strings.Contains(p.body, "revoke-cmd") {
			t.Errorf("revoke page of a device whose revocation waits: %s", p.body)
		}
		p = br.get("/devices/revoke?device=tv")
		if !strings.Contains(p.body, "nothing to revoke") || strings.Contains(p.body, "revoke-cmd") || strings.Contains(p.body, "revoke-form") {
			t.Errorf("revoke page of a pending device: %s", p.body)
		}
	})

	t.Run("keys", func(t *testing.T) {
		p := br.get("/keys")
		noInline(t, "keys", p)
		if !strings.Contains(p.body, "mpcctl drill --key "+key) || strings.Contains(p.body, `action="/keys/drill"`) {
			t.Errorf("keys page with a roster: %s", p.body)
		}
		// A stale drill form starts nothing and says what to run.
		if p := br.post("/keys/drill", url.Values{"key": {key}, "csrf": {br.csrf()}}); p.status != http.StatusSeeOther {
			t.Fatalf("drill: %d", p.status)
		}
		if p := br.get("/keys"); !strings.Contains(p.body, "a drill needs an operator&#39;s signature") {
			t.Errorf("a refused drill does not say why")
		}
		if p := br.get("/api/drill?key=" + key); !strings.Contains(p.body, `"running":false`) {
			t.Errorf("a drill started: %s", p.body)
		}
	})
}

// Without a roster the Roster page says so and how to start one; a genesis
// that waits for a second operator is listed with the command that signs
// it, and the other pages keep their buttons.
func TestRosterPageWithoutRoster(t *testing.T) {
	f := newFixture(t)
	b := f.browser().signedIn()
	p := b.get("/roster")
	if p.status != http.StatusOK {
		t.Fatalf("roster page: %d", p.status)
	}
	noInline(t, "roster", p)
	for _, want := range []string{"no roster yet", "mpcctl operator init --name NAME", "mpcctl roster init", "mpcctl roster verify"} {
		if !strings.Contains(p.body, want) {
			t.Errorf("roster page without a roster lacks %q", want)
		}
	}
	if strings.Contains(p.body, "Waiting for signatures") || strings.Contains(p.body, `id="roster-entries"`) {
		t.Errorf("roster page lists entries without a roster")
	}

	alice, bob := testkit.NewOperator("alice"), testkit.NewOperator("bob")
	g, err := roster.NewGenesis([]roster.Operator{alice.Info(), bob.Info()}, 2, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	g.Sign(alice)
	if resp, err := f.srv.SubmitRosterEntry(adminContext(t, f), &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(g)}); err != nil || resp.GetAppended() {
		t.Fatalf("half-signed genesis: appended %v, %v", resp.GetAppended(), err)
	}
	id := g.Hash().String()[:12]
	p = b.get("/roster")
	row := rowText(p.body, "data-pending", id)
	for _, want := range []string{"genesis", "operators alice, bob; quorum 2", "alice", "1 of 2", "mpcctl roster sign " + id} {
		if !strings.Contains(row, want) {
			t.Errorf("pending genesis %q lacks %q", row, want)
		}
	}
	if !strings.Contains(p.body, "A genesis waits for more operator signatures") {
		t.Errorf("the roster page does not say that a genesis waits")
	}
	// Still no roster: the buttons stay.
	for path, want := range map[string]string{"/devices": `id="pair-form"`, "/keys": "No keys yet"} {
		if p := b.get(path); !strings.Contains(p.body, want) || strings.Contains(p.body, `id="roster-note"`) {
			t.Errorf("%s without a roster: %s", path, p.body)
		}
	}
}

// tamperedRoster serves the coordinator's roster with the genesis
// signature changed.
type tamperedRoster struct{ *coordinator.Server }

func (s tamperedRoster) GetRoster(ctx context.Context, req *mpcv1.GetRosterRequest) (*mpcv1.GetRosterResponse, error) {
	resp, err := s.Server.GetRoster(ctx, req)
	if err != nil || len(resp.GetEntries()) == 0 {
		return resp, err
	}
	resp = proto.Clone(resp).(*mpcv1.GetRosterResponse) // the server's own copy stays intact
	resp.Entries[0].Signatures[0].Signature[0] ^= 1
	return resp, nil
}

// The console checks what it shows: a roster that does not verify is an
// error, not a page.
func TestRosterPageRefusesABadRoster(t *testing.T) {
	f := newFixtureWith(t, func(s *coordinator.Server) Coordinator { return tamperedRoster{s} })
	alice := testkit.NewOperator("alice")
	g, err := roster.NewGenesis([]roster.Operator{alice.Info()}, 1, false, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	g.Sign(alice)
	if resp, err := f.srv.SubmitRosterEntry(adminContext(t, f), &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(g)}); err != nil || !resp.GetAppended() {
		t.Fatalf("genesis: %v", err)
	}
	p := f.browser().signedIn().get("/roster")
	if p.status != http.StatusInternalServerError || !strings.Contains(p.body, "does not verify") || !strings.Contains(p.body, "mpcctl roster verify") {
		t.Fatalf("a tampered roster: %d %s", p.status, p.body)
	}
}

func TestShellWord(t *testing.T) {
	for in, want := range map[string]string{
		"phone":              "phone",
		"k0123:eu-1.a_b":     "k0123:eu-1.a_b",
		"two words":          "'two words'",
		"x;rm -rf ~":         "'x;rm -rf ~'",
		"it's":               `'it'\''s'`,
		"$(id)":              "'$(id)'",
		"":                   "''",
		"a\nb":               "'a\nb'",
		"plain-0123456789ab": "plain-0123456789ab",
	} {
		if got := shellWord(in); got != want {
			t.Errorf("shellWord(%q) = %q, want %q", in, got, want)
		}
	}
}
