package console

import (
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"
	"testing"
	"time"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	f := newFixture(t)
	b := f.browser().signedIn()
	anon := f.browser()
	pages := map[string]page{
		"login":       anon.get("/login"),
		"signed out":  anon.get("/devices"),
		"static":      anon.get("/static/console.css"),
		"not found":   anon.get("/nope"),
		"devices":     b.get("/devices"),
		"keys":        b.get("/keys"),
		"roster":      b.get("/roster"),
		"requesters":  b.get("/requesters"),
		"audit":       b.get("/audit"),
		"sessions":    b.get("/sessions"),
		"api":         b.get("/api/reshares"),
		"refused":     anon.post("/devices/pair", url.Values{"name": {"x"}}),
		"bad sign-in": anon.signIn("mpct_wrong"),
	}
	for name, p := range pages {
		csp := p.header.Get("Content-Security-Policy")
		for _, want := range []string{"default-src 'none'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "form-action 'self'", "base-uri 'none'"} {
			if !strings.Contains(csp, want) {
				t.Errorf("%s: CSP %q lacks %q", name, csp, want)
			}
		}
		if strings.Contains(csp, "unsafe-inline") || strings.Contains(csp, "unsafe-eval") {
			t.Errorf("%s: CSP allows inline code: %q", name, csp)
		}
		for h, want := range map[string]string{"X-Frame-Options": "DENY", "Cache-Control": "no-store", "X-Content-Type-Options": "nosniff", "Referrer-Policy": "same-origin"} {
			if got := p.header.Get(h); got != want {
				t.Errorf("%s: %s is %q, want %q", name, h, got, want)
			}
		}
	}
	// No inline script or style in any page: the CSP would block it.
	for name, p := range pages {
		if strings.HasPrefix(p.header.Get("Content-Type"), "text/html") {
			noInline(t, name, p)
		}
	}
}

func TestSignIn(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	if p := b.get("/devices"); p.status != http.StatusSeeOther || p.header.Get("Location") != "/login" {
		t.Fatalf("signed out /devices: %d %q", p.status, p.header.Get("Location"))
	}
	for name, tok := range map[string]string{
		"wrong":  "mpct_" + strings.Repeat("A", 43),
		"signer": f.signer,
		"empty":  "",
		"junk":   "<script>x</script>",
	} {
		p := b.signIn(tok)
		if p.status != http.StatusUnauthorized || !strings.Contains(p.body, "not a valid admin token") {
			t.Errorf("%s token: status %d: %s", name, p.status, p.body)
		}
		if p.header.Get("Set-Cookie") != "" {
			t.Errorf("%s token got a cookie", name)
		}
		if tok != "" && strings.Contains(p.body, tok) {
			t.Errorf("%s token is echoed in the page", name)
		}
	}
	if p := b.get("/devices"); p.status != http.StatusSeeOther {
		t.Fatalf("refused sign-ins opened a session: %d", p.status)
	}

	p := b.signIn(f.admin)
	if p.status != http.StatusSeeOther {
		t.Fatalf("admin sign-in: %d %s", p.status, p.body)
	}
	resp := &http.Response{Header: p.header}
	cookies := resp.Cookies()
	if len(cookies) != 1 {
		t.Fatalf("cookies: %v", cookies)
	}
	ck := cookies[0]
	if ck.Name != "__Host-mpcsign-console" || !ck.HttpOnly || !ck.Secure || ck.SameSite != http.SameSiteStrictMode || ck.Path != "/" || ck.Domain != "" {
		t.Errorf("session cookie is not locked down: %s", p.header.Get("Set-Cookie"))
	}
	if len(ck.Value) < 40 || strings.Contains(ck.Value, strings.TrimPrefix(f.admin, "mpct_")) {
		t.Errorf("session id is short or carries the token: %q", ck.Value)
	}
	if p := b.get("/devices"); p.status != http.StatusOK || !strings.Contains(p.body, "initial admin") {
		t.Fatalf("signed-in /devices: %d", p.status)
	}

	// A second sign-in gets a new session id.
	p2 := b.signIn(f.admin)
	if c2 := (&http.Response{Header: p2.header}).Cookies(); len(c2) != 1 || c2[0].Value == ck.Value {
		t.Errorf("sign-in kept the session id")
	}
	// The old id no longer works.
	old := f.browser()
	u, _ := url.Parse(f.web.URL)
	old.client.Jar.SetCookies(u, []*http.Cookie{ck})
	if p := old.get("/devices"); p.status != http.StatusSeeOther {
		t.Errorf("the replaced session id still works: %d", p.status)
	}

	// Sign out ends the session on the server.
	cur := b.client.Jar.Cookies(u)
	if p := b.post("/logout", url.Values{"csrf": {b.csrf()}}); p.status != http.StatusSeeOther || p.header.Get("Location") != "/login" {
		t.Fatalf("sign out: %d", p.status)
	}
	replay := f.browser()
	replay.client.Jar.SetCookies(u, cur)
	if p := replay.get("/devices"); p.status != http.StatusSeeOther {
		t.Errorf("a signed-out session id still works: %d", p.status)
	}
}

func TestSessionExpiresAndRevokedTokenEndsIt(t *testing.T) {
	f := newFixture(t)
	b := f.browser().signedIn()
	f.clock.add(29 * time.Minute)
	if p := b.get("/devices"); p.status != http.StatusOK {
		t.Fatalf("a session used within the idle timeout ended: %d", p.status)
	}
	f.clock.add(31 * time.Minute)
	if p := b.get("/devices"); p.status != http.StatusSeeOther {
		t.Fatalf("an idle session still works: %d", p.status)
	}

	// Keep a session busy past its maximum age.
	b = f.browser().signedIn()
	for range 25 {
		f.clock.add(29 * time.Minute)
		b.get("/keys")
	}
	if p := b.get("/devices"); p.status != http.StatusSeeOther {
		t.Fatalf("a session older than 12 hours still works: %d", p.status)
	}

	// A second admin token signs in, then is revoked: its session ends.
	adminCtx := adminContext(t, f)
	created, err := f.srv.CreateToken(adminCtx, &mpcv1.CreateTokenRequest{Role: mpcv1.TokenRole_TOKEN_ROLE_ADMIN, Name: "ops-laptop"})
	if err != nil {
		t.Fatal(err)
	}
	b2 := f.browser()
	if p := b2.signIn(created.GetToken()); p.status != http.StatusSeeOther {
		t.Fatalf("second admin token: %d", p.status)
	}
	if p := b2.get("/devices"); p.status != http.StatusOK || !strings.Contains(p.body, "ops-laptop") {
		t.Fatalf("second admin token's page: %d", p.status)
	}
	if _, err := f.srv.RevokeToken(adminCtx, &mpcv1.RevokeTokenRequest{Id: created.GetInfo().GetId()}); err != nil {
		t.Fatal(err)
	}
	if p := b2.get("/devices"); p.status != http.StatusSeeOther {
		t.Fatalf("a revoked token's session still works: %d", p.status)
	}
	if p := b2.get("/api/reshares"); p.status != http.StatusUnauthorized {
		t.Fatalf("a revoked token's session still reads the API: %d", p.status)
	}
}

func TestForgedPostsAreRefused(t *testing.T) {
	f := newFixture(t)
	b := f.browser().signedIn()
	token := b.csrf()
	tests := []struct {
		name, origin, site, csrf string
	}{
		{"no CSRF token", f.web.URL, "same-origin", ""},
		{"wrong CSRF token", f.web.URL, "same-origin", wrongToken(token)},
		{"foreign origin", "https://evil.example", "cross-site", token},
		{"foreign origin without fetch metadata", "https://evil.example", "", token},
		{"same site, other port", "https://127.0.0.1:1", "same-site", token},
		{"http origin", strings.Replace(f.web.URL, "https:", "http:", 1), "", token},
		{"null origin", "null", "", token},
		{"neither Origin nor Sec-Fetch-Site", "", "", token},
	}
	for _, tc := range tests {
		b.origin, b.site = tc.origin, tc.site
		form := url.Values{"name": {"forged"}}
		if tc.csrf != "" {
			form.Set("csrf", tc.csrf)
		}
		if p := b.post("/devices/pair", form); p.status != http.StatusForbidden || !strings.Contains(p.body, "refused") {
			t.Errorf("%s: status %d", tc.name, p.status)
		}
	}
	// A forged sign-in (login CSRF) is refused too.
	b.origin, b.site = "https://evil.example", "cross-site"
	if p := b.signIn(f.admin); p.status != http.StatusForbidden {
		t.Errorf("cross-site sign-in: %d", p.status)
	}
	// None of them did anything.
	for _, e := range auditEntries(t, f) {
		if e.Action == "pairing.create" {
			t.Fatalf("a forged POST made a pairing code: %+v", e)
		}
	}
	// The genuine POST works and is audited under the signed-in token.
	b.origin, b.site = f.web.URL, "same-origin"
	p := b.post("/devices/pair", url.Values{"name": {"tablet"}, "csrf": {token}})
	if p.status != http.StatusOK || !strings.Contains(p.body, "mpc1") || !strings.Contains(p.body, "<svg") {
		t.Fatalf("pair: %d %s", p.status, p.body)
	}
	tok, _ := f.srv.CheckAdminToken(f.admin)
	es := auditEntries(t, f)
	last := es[len(es)-1]
	if last.Action != "pairing.create" || last.Actor != "token:"+tok.ID || len(last.Devices) != 1 || last.Devices[0] != "tablet" {
		t.Fatalf("the console's pairing is audited as %+v, want actor token:%s", last, tok.ID)
	}
	// The Audit page names the token.
	if p := b.get("/audit?device=tablet"); !strings.Contains(p.body, "initial admin<div class=\"muted mono\">token "+tok.ID+"</div>") || !strings.Contains(p.body, "verified up to entry") {
		t.Errorf("audit page: %s", p.body)
	}
}

// wrongToken is token with its first character changed: always different.
func wrongToken(token string) string {
	c := "x"
	if token[0] == 'x' {
		c = "y"
	}
	return c + token[1:]
}

// Every state-changing POST route (all those served through c.action) is
// refused without the session's CSRF token or from another origin, even
// with the session cookie, and changes nothing.
func TestEveryActionNeedsCSRFAndOrigin(t *testing.T) {
	f := newFixture(t)
	b := f.browser().signedIn()
	token := b.csrf()
	routes := []struct {
		path string
		form url.Values
	}{
		{"/logout", url.Values{}},
		{"/devices/pair", url.Values{"name": {"forged"}}},
		{"/devices/approve", url.Values{"device": {"forged"}, "sas": {"1"}}},
		{"/devices/revoke", url.Values{"device": {"forged"}}},
		{"/keys/drill", url.Values{"key": {"k0123"}}},
	}
	// The list is every POST route of the console: a new one must be added here.
	var posts []string
	for _, line := range regexp.MustCompile(`mux\.Handle(?:Func)?\("POST (/[^"]*)"`).FindAllStringSubmatch(readSource(t, "console.go"), -1) {
		if line[1] != "/login" { // signed out by nature; its own origin check is tested above
			posts = append(posts, line[1])
		}
	}
	if len(posts) != len(routes) {
		t.Fatalf("console.go serves POST %v; this test covers %d routes", posts, len(routes))
	}
	for i, r := range routes {
		if posts[i] != r.path {
			t.Fatalf("console.go serves POST %v; this test covers %v", posts, routes)
		}
	}
	cases := []struct {
		name, origin, site, csrf string
	}{
		{"no CSRF token", f.web.URL, "same-origin", ""},
		{"wrong CSRF token", f.web.URL, "same-origin", wrongToken(token)},
		{"another session's CSRF token", f.web.URL, "same-origin", f.browser().signedIn().csrf()},
		{"no Origin", "", "", token},
		{"foreign Origin", "https://evil.example", "cross-site", token},
	}
	before := len(auditEntries(t, f))
	for _, r := range routes {
		for _, tc := range cases {
			b.origin, b.site = tc.origin, tc.site
			form := url.Values{}
			for k, v := range r.form {
				form[k] = v
			}
			if tc.csrf != "" {
				form.Set("csrf", tc.csrf)
			}
			if p := b.post(r.path, form); p.status != http.StatusForbidden || !strings.Contains(p.body, "refused") {
				t.Errorf("POST %s with %s: status %d, want 403", r.path, tc.name, p.status)
			}
		}
	}
	// Nothing happened: no audit entry, and the session is still signed in
	// (the refused /logout did not end it).
	if es := auditEntries(t, f); len(es) != before {
		t.Errorf("refused POSTs wrote audit entries: %+v", es[before:])
	}
	b.origin, b.site = f.web.URL, "same-origin"
	if p := b.get("/devices"); p.status != http.StatusOK {
		t.Fatalf("a refused POST /logout ended the session: %d", p.status)
	}
	if p := b.get("/api/drill?key=k0123"); p.body != "{\"error\":\"\",\"running\":false}\n" {
		t.Errorf("a refused POST /keys/drill started a drill: %s", p.body)
	}
	// The same POSTs with the token and the origin go through (so the
	// refusals above are the checks', not the handlers').
	if p := b.post("/devices/pair", url.Values{"name": {"tablet"}, "csrf": {token}}); p.status != http.StatusOK {
		t.Errorf("genuine pair: %d", p.status)
	}
	if p := b.post("/logout", url.Values{"csrf": {token}}); p.status != http.StatusSeeOther || p.header.Get("Location") != "/login" {
		t.Errorf("genuine sign out: %d", p.status)
	}
}

func readSource(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestSignInLimit(t *testing.T) {
	f := newFixture(t)
	b := f.browser()
	for range maxFailures {
		if p := b.signIn("mpct_wrong"); p.status != http.StatusUnauthorized {
			t.Fatalf("wrong token: %d", p.status)
		}
	}
	if p := b.signIn(f.admin); p.status != http.StatusTooManyRequests {
		t.Fatalf("sign-in after %d wrong tokens: %d", maxFailures, p.status)
	}
	f.clock.add(failureWindow + time.Second)
	if p := b.signIn(f.admin); p.status != http.StatusSeeOther {
		t.Fatalf("sign-in after the window: %d", p.status)
	}
}
