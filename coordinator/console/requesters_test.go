package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/internal/keyfile"
	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// requesterFingerprint is the fingerprint of a requester's public key on
// the cluster's roster.
func requesterFingerprint(t *testing.T, c *testkit.Cluster, id string) string {
	t.Helper()
	r, ok := c.Roster(t).Requester(id)
	if !ok {
		t.Fatalf("requester %s is not on the roster", id)
	}
	return keyfile.Fingerprint(r.PublicKey)
}

// The Requesters page lists the roster's requesters, active and revoked,
// with their grants, the commands that register, change and revoke them,
// and the revocation that waits for a second operator with the command
// that signs it; the Roster page describes the requester entries.
func TestRequestersPage(t *testing.T) {
	c := testkit.New(t, testkit.Options{})
	alice, bob := testkit.NewOperator("alice"), testkit.NewOperator("bob")
	c.StartRoster(t, alice)
	wallet := c.AddRequester(t, alice, "wallet", roster.Requester{Keys: []string{"*"}}) // height 1
	eu := c.AddRequester(t, alice, "wallet-eu", roster.Requester{Keys: []string{"k1", "k2"}, Paths: []string{"m/44/60/0/0"}, MaxPerHour: 500})
	old := c.AddRequester(t, alice, "old", roster.Requester{Keys: []string{"k1"}}) // height 3

	// Height 4: old is revoked, with a reason the pages must escape.
	b := c.Roster(t).Next(roster.KindRevokeRequester, time.Now())
	b.RequesterID, b.Reason = old.ID, "<b>rotated</b>"
	c.SubmitRoster(t, signedBy(t, b, alice))

	// Height 5: alice and bob, quorum 2. Then alice signs wallet-eu's
	// revocation, which waits for bob.
	b = c.Roster(t).Next(roster.KindSetOperators, time.Now())
	b.Operators, b.Quorum = []roster.Operator{alice.Info(), bob.Info()}, 2
	c.SubmitRoster(t, signedBy(t, b, alice))
	b = c.Roster(t).Next(roster.KindRevokeRequester, time.Now())
	b.RequesterID, b.Reason = eu.ID, "moved"
	revoke := signedBy(t, b, alice)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if sub, err := c.Admin.SubmitRosterEntry(ctx, &mpcv1.SubmitRosterEntryRequest{Entry: roster.EntryProto(revoke)}); err != nil || sub.GetAppended() {
		t.Fatalf("alice's signature alone appended wallet-eu's revocation (%v)", err)
	}
	revokeID := revoke.Hash().String()[:pendingIDLen]

	f := clusterFixture(t, c)
	br := f.browser().signedIn()
	p := br.get("/requesters")
	if p.status != http.StatusOK {
		t.Fatalf("requesters page: %d %s", p.status, p.body)
	}
	noInline(t, "requesters", p)
	for _, want := range []string{
		`aria-current="page">Requesters`, `id="requesters-count">2 active, 1 revoked, at roster height 5<`,
		`id="create-cmd">mpcctl requesters create NAME --keys KEY_ID[,KEY_ID...]`,
		`id="create-kms-cmd">mpcctl requesters create NAME --keys &#39;*&#39; --public-key KEY.pem<`,
		`id="grant-cmd">mpcctl requesters grant NAME`, `id="revoke-cmd">mpcctl requesters revoke NAME`,
		`id="list-cmd">mpcctl requesters list<`, "--requester-key NAME.requester.json", "MPC_REQUESTER_PASSPHRASE",
	} {
		if !strings.Contains(p.body, want) {
			t.Errorf("requesters page lacks %q", want)
		}
	}
	for _, tc := range []struct {
		r        *testkit.Requester
		want     []string
		dontWant []string
	}{
		{wallet, []string{"wallet " + wallet.ID[:8], "ed25519 " + requesterFingerprint(t, c, wallet.ID), "all keys", "any path", "no cap",
			"active since height 1", "mpcctl requesters revoke wallet"}, []string{"revoked", "roster sign"}},
		{eu, []string{"wallet-eu " + eu.ID[:8], requesterFingerprint(t, c, eu.ID), "k1, k2", "m/44/60/0/0 and below", "500 per device",
			"active since height 2", "waits for more operator signatures", "mpcctl roster sign " + revokeID}, []string{"all keys", "any path", "requesters revoke"}},
		{old, []string{"old " + old.ID[:8], "k1", "any path", "no cap", "revoked at height 4"}, []string{"active", "mpcctl"}},
	} {
		row := rowText(p.body, "data-requester", tc.r.ID)
		if row == "" {
			t.Errorf("requester %s is not listed", tc.r.Name)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(row, w) {
				t.Errorf("requester %s: %q lacks %q", tc.r.Name, row, w)
			}
		}
		for _, w := range tc.dontWant {
			if strings.Contains(row, w) {
				t.Errorf("requester %s: %q has %q", tc.r.Name, row, w)
			}
		}
	}
	// Listed in the order they were added.
	if i, j, k := strings.Index(p.body, `data-requester="`+wallet.ID), strings.Index(p.body, `data-requester="`+eu.ID), strings.Index(p.body, `data-requester="`+old.ID); !(i < j && j < k) {
		t.Errorf("requesters not in the order they were added: %d %d %d", i, j, k)
	}
	row := rowText(p.body, "data-pending", revokeID)
	for _, w := range []string{"revoke_requester", "requester wallet-eu (" + eu.ID[:8] + `); reason: &#34;moved&#34;`, "alice", "1 of 2", "mpcctl roster sign " + revokeID} {
		if !strings.Contains(row, w) {
			t.Errorf("pending revocation %q lacks %q", row, w)
		}
	}

	// The Roster page says what each requester entry does, escaped.
	p = br.get("/roster")
	for h, want := range map[string][]string{
		"1": {"add_requester", "requester wallet (" + wallet.ID[:8] + ", ed25519 key " + requesterFingerprint(t, c, wallet.ID) + "): all keys; any path; no cap"},
		"2": {"add_requester", "requester wallet-eu (" + eu.ID[:8] + ", ed25519 key", "keys k1, k2; paths m/44/60/0/0; at most 500 signatures per device per hour"},
		"4": {"revoke_requester", "requester old (" + old.ID[:8] + `); reason: &#34;&lt;b&gt;rotated&lt;/b&gt;&#34;`, "alice"},
	} {
		row := rowText(p.body, "data-height", h)
		for _, w := range want {
			if !strings.Contains(row, w) {
				t.Errorf("roster entry %s: %q lacks %q", h, row, w)
			}
		}
	}
	if strings.Contains(p.body, "<b>rotated") {
		t.Errorf("the roster page shows a reason unescaped")
	}
}

// With a roster and no requester, the page says what a requester is and
// that every Sign call is refused until one is registered.
func TestRequestersPageEmpty(t *testing.T) {
	c := testkit.New(t, testkit.Options{})
	c.StartRoster(t, testkit.NewOperator("alice"))
	p := clusterFixture(t, c).browser().signedIn().get("/requesters")
	if p.status != http.StatusOK {
		t.Fatalf("requesters page: %d %s", p.status, p.body)
	}
	noInline(t, "requesters", p)
	for _, want := range []string{`id="no-requesters"`, "No requesters yet", "wallet backend's key", "refuses every Sign call", `id="create-cmd"`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("empty requesters page lacks %q", want)
		}
	}
	if strings.Contains(p.body, `id="requesters"`) || strings.Contains(p.body, `id="no-roster"`) {
		t.Errorf("empty requesters page lists requesters or says there is no roster")
	}
}

// Without a roster the page says that Sign calls are authenticated by API
// token only, and offers no requester command.
func TestRequestersPageWithoutRoster(t *testing.T) {
	p := newFixture(t).browser().signedIn().get("/requesters")
	if p.status != http.StatusOK {
		t.Fatalf("requesters page: %d", p.status)
	}
	noInline(t, "requesters", p)
	for _, want := range []string{`id="no-roster"`, "no roster", "authenticated by API token only", `href="/roster"`, `aria-current="page">Requesters`} {
		if !strings.Contains(p.body, want) {
			t.Errorf("requesters page without a roster lacks %q", want)
		}
	}
	if strings.Contains(p.body, `id="create-cmd"`) || strings.Contains(p.body, `id="requesters"`) {
		t.Errorf("requesters page without a roster offers commands or a list")
	}
}

// A roster that does not verify is an error on this page too.
func TestRequestersPageRefusesABadRoster(t *testing.T) {
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
	p := f.browser().signedIn().get("/requesters")
	if p.status != http.StatusInternalServerError || !strings.Contains(p.body, "does not verify") {
		t.Fatalf("a tampered roster: %d %s", p.status, p.body)
	}
}

// The page escapes what it shows: a name the roster would refuse, should
// one ever reach the template, is text, and so are its grants; a command
// quotes it for the shell.
func TestRequestersPageEscapes(t *testing.T) {
	f := newFixture(t)
	con, err := New(Options{Coordinator: f.srv, GetCertificate: f.srv.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	name := `<script>alert("x")</script>`
	v := requestersView{Exists: true, Height: 7, Active: 1, List: []requesterView{{
		ID: "0123456789abcdef0123456789abcdef", ShortID: "01234567", Name: name, Algorithm: "<i>alg</i>",
		Fingerprint: "<b>fp</b>", Keys: []string{"<k>"}, Paths: []string{"<pa>"}, Active: true, AddedAt: 7,
		RevokeCmd: requesterRevokeCommand(name),
	}}}
	w := httptest.NewRecorder()
	con.render(w, nil, http.StatusOK, "requesters.html", "Requesters", "requesters", v)
	body := w.Body.String()
	for _, bad := range []string{"<script>", "<i>alg", "<b>fp", "<k>", "<pa>"} {
		if strings.Contains(body, bad) {
			t.Errorf("the page shows %q unescaped", bad)
		}
	}
	for _, want := range []string{"&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;", "&lt;i&gt;alg&lt;/i&gt;", "&lt;k&gt;", "&lt;pa&gt;",
		"mpcctl requesters revoke &#39;&lt;script&gt;alert(&#34;x&#34;)&lt;/script&gt;&#39;"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}
