package console

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/coordinator"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// reportOf cuts one report (drill-report or reshare-report) out of the
// key's section of the Keys page, with its text's spaces collapsed.
func reportOf(t *testing.T, page, class string) string {
	t.Helper()
	m := regexp.MustCompile(`(?s)<details class="report ` + class + `"[^>]*>(.*?)</details>`).FindStringSubmatch(page)
	if m == nil {
		return ""
	}
	return strings.Join(strings.Fields(regexp.MustCompile(`<[^>]+>`).ReplaceAllString(m[1], " ")), " ")
}

// A real drill started from the console is kept with its key as the last
// drill: a later reshare replaces the last reshare's report but not the
// drill's, and a later failed drill replaces the drill's but not the
// reshare's. (Ed25519 keys, which need no pre-parameters: the cheapest real
// reshares.)
func TestKeysPageKeepsTheLastDrill(t *testing.T) {
	c := testkit.New(t, testkit.Options{SignTimeout: 30 * time.Second})
	for _, name := range []string{"phone", "laptop", "server"} {
		c.AddDevice(t, name, nil)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute) // a hang guard
	defer cancel()
	created, err := c.Admin.CreateKey(ctx, &mpcv1.CreateKeyRequest{Curve: mpcv1.Curve_CURVE_ED25519, Threshold: 1, Devices: []string{"phone", "laptop", "server"}})
	if err != nil {
		t.Fatal(err)
	}
	key := created.GetKey().GetId()

	con, err := New(Options{Coordinator: c.Server, GetCertificate: c.Server.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	web := httptest.NewUnstartedServer(con.Handler())
	web.StartTLS()
	t.Cleanup(web.Close)
	f := &fixture{t: t, srv: c.Server, web: web, admin: c.Token(t, "admin")}
	b := f.browser().signedIn()
	if got := b.get("/keys").body; !strings.Contains(got, "No drill yet.") || reportOf(t, got, "drill-report") != "" {
		t.Fatalf("keys page before any drill: %s", got)
	}
	drill := func() {
		t.Helper()
		if p := b.post("/keys/drill", url.Values{"key": {key}, "csrf": {b.csrf()}}); p.status != http.StatusSeeOther {
			t.Fatalf("drill: %d %s", p.status, p.body)
		}
		for strings.Contains(b.get("/api/drill?key="+key).body, `"running":true`) {
			if ctx.Err() != nil {
				t.Fatal("the drill did not finish")
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	// 1. A drill that passes: epoch 0 -> 1, committed, test signature made.
	drill()
	page := b.get("/keys").body
	first := reportOf(t, page, "drill-report")
	for _, want := range []string{"Last drill: ok", "epoch 0 → 1", "phone, laptop, server", "test signature", "commit"} {
		if !strings.Contains(first, want) {
			t.Errorf("the drill's report lacks %q: %s", want, first)
		}
	}
	if r := reportOf(t, page, "reshare-report"); !strings.HasPrefix(r, "Last reshare (drill): ok") {
		t.Errorf("the last reshare after the drill: %s", r)
	}

	// 2. A reshare to two of the devices: the last reshare is now that one,
	// the last drill is still the drill.
	if _, err := c.Admin.ReshareKey(ctx, &mpcv1.ReshareKeyRequest{KeyId: key, Devices: []string{"phone", "laptop"}}); err != nil {
		t.Fatalf("reshare: %v", err)
	}
	page = b.get("/keys").body
	if got := reportOf(t, page, "drill-report"); got != first {
		t.Errorf("a reshare changed the last drill's report:\nbefore %s\nafter  %s", first, got)
	}
	if r := reportOf(t, page, "reshare-report"); !strings.HasPrefix(r, "Last reshare (reshare): ok") || !strings.Contains(r, "epoch 1 → 2") || !strings.Contains(r, "to phone, laptop (1+1 sign)") {
		t.Errorf("the last reshare after the reshare: %s", r)
	}

	// 3. A drill that fails at once (the laptop is offline): it becomes the
	// last drill, with its reason; the last reshare stays.
	c.StopDevice(t, "laptop")
	c.WaitOffline(t, "laptop")
	drill()
	page = b.get("/keys").body
	failed := reportOf(t, page, "drill-report")
	if !strings.HasPrefix(failed, "Last drill: failed") || !strings.Contains(failed, "laptop") || !strings.Contains(failed, "not committed") {
		t.Errorf("the failed drill's report: %s", failed)
	}
	if strings.Count(page, "drill-error") != 1 {
		t.Errorf("the failed drill's reason is shown %d times, want once", strings.Count(page, "drill-error"))
	}
	if r := reportOf(t, page, "reshare-report"); !strings.HasPrefix(r, "Last reshare (reshare): ok") || !strings.Contains(r, "epoch 1 → 2") {
		t.Errorf("a failed drill changed the last reshare: %s", r)
	}
	// The report is kept with the key in the coordinator's store, not only
	// in the console: the admin API returns it too.
	got, err := c.Admin.GetKey(ctx, &mpcv1.GetKeyRequest{KeyId: key})
	if err != nil {
		t.Fatal(err)
	}
	if d := got.GetKey().GetLastDrill(); d.GetOk() || d.GetKind() != "drill" || d.GetStartedAt() == nil || d.GetError() == "" ||
		got.GetKey().GetLastReshare().GetKind() != "reshare" {
		t.Errorf("GetKey: last drill %v, last reshare %v", d, got.GetKey().GetLastReshare())
	}

	// And it outlives the coordinator: a new one on the same data shows it.
	c.Close()
	srv, err := coordinator.New(coordinator.Options{DataDir: filepath.Join(c.Dir, "coordinator")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	con2, err := New(Options{Coordinator: srv, GetCertificate: srv.GetCertificate})
	if err != nil {
		t.Fatal(err)
	}
	web2 := httptest.NewUnstartedServer(con2.Handler())
	web2.StartTLS()
	t.Cleanup(web2.Close)
	b2 := (&fixture{t: t, srv: srv, web: web2, admin: f.admin}).browser().signedIn()
	if got := reportOf(t, b2.get("/keys").body, "drill-report"); got != failed {
		t.Errorf("after a restart the last drill is\n%s\nwant\n%s", got, failed)
	}
}
