package console

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/mpcsign/mpcsign/internal/roster"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// The operator's story in a real headless Chromium against a real
// coordinator with real devices: sign in, pair a device with the code on
// the page, approve it, revoke it and watch the reshare finish, see a drill
// refused while a device is offline, find the audit entries and sessions; a
// wrong token and forged cross-site POSTs are refused; then, with a roster,
// the Roster page and the commands that replace the buttons. Each page's
// screenshot is kept.
func TestConsoleInBrowser(t *testing.T) {
	chrome := chromium(t)
	shots := artefacts(t)

	c := testkit.New(t, testkit.Options{JobRetry: time.Second})
	c.AddDevice(t, "phone", testkit.FixtureSets(t, 1))
	c.AddDevice(t, "laptop", testkit.FixtureSets(t, 2))

	con, err := New(Options{Coordinator: c.Server, GetCertificate: c.Server.GetCertificate, PollInterval: 200 * time.Millisecond, Logger: c.Log})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveCtx, stopServe := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- con.Serve(serveCtx, lis) }()
	t.Cleanup(func() {
		stopServe()
		if err := <-served; err != nil {
			t.Errorf("console: %v", err)
		}
	})
	base := "https://" + lis.Addr().String()

	// A hang guard, not a timed assertion: the whole story takes well under it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(chrome),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-features", "HttpsUpgrades,HttpsFirstBalancedModeAutoEnable"),
		chromedp.Flag("ignore-certificate-errors-spki-list", spkiPin(t, c.Server.GetCertificate)),
	)
	defer cancelAlloc()
	browser, closeBrowser := chromedp.NewContext(alloc)
	defer closeBrowser()

	run := func(what string, steps ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		if err := chromedp.Do(browser, steps...); err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	shot := func(name string) {
		t.Helper()
		png, err := chromedp.Run(browser, chromedp.FullScreenshot(100)) // quality 100: PNG
		if err != nil {
			t.Fatalf("screenshot %s: %v", name, err)
		}
		path := filepath.Join(shots, name+".png")
		if err := os.WriteFile(path, png, 0o644); err != nil {
			t.Fatal(err)
		}
		t.Logf("screenshot: %s", path)
	}
	// polls is how many answers the page's script has applied to the
	// element (console.js counts them in data-polls).
	polls := func(id string) int {
		t.Helper()
		n, err := chromedp.Run(browser, chromedp.Evaluate[int](`Number(document.getElementById("`+id+`").dataset.polls || 0)`))
		if err != nil {
			t.Fatalf("polls of #%s: %v", id, err)
		}
		return n
	}
	text := func(sel string) string {
		t.Helper()
		s, err := chromedp.Run(browser, chromedp.Text(chromedp.CSS(sel)))
		if err != nil {
			t.Fatalf("read %s: %v", sel, err)
		}
		return s
	}

	// A wrong token is refused.
	run("wrong token",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.CSS("#token")),
		chromedp.SendKeys(chromedp.CSS("#token"), "mpct_"+strings.Repeat("x", 43)),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#login-error")),
	)
	if got := text("#login-error"); !strings.Contains(got, "not a valid admin token") {
		t.Fatalf("wrong token: %q", got)
	}
	shot("01-login-refused")

	// Sign in with the admin token.
	admin := c.Token(t, "admin")
	run("sign in",
		chromedp.WaitVisible(chromedp.CSS("#token")), // a new, empty field: the refusal does not echo the token
		chromedp.SendKeys(chromedp.CSS("#token"), admin),
		chromedp.Click(chromedp.CSS("#signin")),
		chromedp.WaitVisible(chromedp.CSS("#devices")),
	)
	if got := text("#devices"); !strings.Contains(got, "phone") || !strings.Contains(got, "laptop") {
		t.Fatalf("devices page: %q", got)
	}
	shot("02-devices")

	// Pair a device: the page shows the code and its QR code.
	run("pair",
		chromedp.SendKeys(chromedp.CSS("#pair-name"), "tablet"),
		chromedp.Click(chromedp.CSS("#pair-form button")),
		chromedp.WaitVisible(chromedp.CSS("#pairing-code")),
	)
	code := text("#pairing-code")
	qrs, err := chromedp.Run(browser, chromedp.Evaluate[[]string](`Array.from(document.querySelectorAll("svg.qr")).map(e => e.getAttribute("viewBox"))`))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(code, "mpc1") || len(qrs) != 1 {
		t.Fatalf("pairing page: code %q, QR codes %v", code, qrs)
	}
	shot("03-pair-code")

	// The device enrols with that code; the page shows the SAS to compare.
	sas := enrol(t, c, "tablet", strings.TrimSpace(code), testkit.FixtureSets(t, 3))
	run("wait for the SAS", chromedp.WaitVisible(chromedp.CSS("#pair-sas-box")))
	if got := text("#pair-sas"); got != sas {
		t.Fatalf("the page shows SAS %q, the device %q", got, sas)
	}
	if n := polls("pair-status"); n < 1 {
		t.Fatalf("the SAS is shown but the pairing page's script applied %d answers", n)
	}
	shot("04-pair-sas")
	run("approve",
		chromedp.SendKeys(chromedp.CSS("#sas"), sas),
		chromedp.Click(chromedp.CSS("#approve")),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-device="tablet"] .badge.active`)),
	)
	if got := text("#flash"); !strings.Contains(got, "tablet is approved") {
		t.Fatalf("after approval: %q", got)
	}
	c.WaitOnline(t, "tablet")

	// A key held by the three devices.
	key := c.CreateKey(t, 1, "phone", "laptop", "tablet").GetId()
	keySel := `section[data-key="` + key + `"]`
	run("keys page", chromedp.Navigate(base+"/keys"), chromedp.WaitVisible(chromedp.CSS(keySel)))
	if got := text(keySel + " .committee"); got != "phone, laptop, tablet" {
		t.Fatalf("committee on the keys page: %q", got)
	}

	if got := text(keySel + " .epoch"); got != "0" {
		t.Fatalf("epoch after keygen: %q", got)
	}

	// Revoke the tablet: the confirmation lists the key, then the reshare
	// runs and the page follows it to the end.
	run("revoke confirmation",
		chromedp.Navigate(base+"/devices"),
		chromedp.Click(chromedp.CSS(`tr[data-device="tablet"] a.danger`)),
		chromedp.WaitVisible(chromedp.CSS("#revoke-keys")),
	)
	if got := text("#revoke-keys"); !strings.Contains(got, key) || !strings.Contains(got, "phone, laptop") {
		t.Fatalf("revoke confirmation: %q", got)
	}
	shot("05-revoke-confirm")
	run("revoke",
		chromedp.Click(chromedp.CSS("#confirm-revoke")),
		chromedp.WaitVisible(chromedp.CSS("#reshares")),
	)
	// The page came from the server with the reshare still running (a
	// secp256k1 reshare takes seconds): only the script can show it done.
	if got, err := chromedp.Run(browser, chromedp.Evaluate[string](`document.getElementById("reshares").dataset.finished`)); err != nil || got != "false" {
		t.Fatalf("the reshares page was served with finished=%q (%v), want false", got, err)
	}
	shot("06-reshare-progress")
	run("reshare finishes", chromedp.WaitVisible(chromedp.CSS("#reshares-done")))
	if n := polls("reshares"); n < 1 {
		t.Fatalf("the reshares page shows done, but its script applied %d answers", n)
	}
	if got := text(`tr[data-key="` + key + `"] .job-state`); got != "done" {
		t.Fatalf("reshare state: %q", got)
	}
	shot("07-reshare-done")
	got, err := c.Admin.GetKey(context.Background(), &mpcv1.GetKeyRequest{KeyId: key})
	if err != nil {
		t.Fatal(err)
	}
	var holders []string
	for _, h := range got.GetKey().GetHolders() {
		holders = append(holders, h.GetDeviceName())
	}
	slices.Sort(holders)
	if !slices.Equal(holders, []string{"laptop", "phone"}) || got.GetKey().GetEpoch() == 0 {
		t.Fatalf("after the revocation the key is held by %v at epoch %d", holders, got.GetKey().GetEpoch())
	}
	// The Keys page shows the new committee and the reshare's report. (The
	// drill button is tested in TestDrillButton without a protocol run.)
	run("keys page", chromedp.Navigate(base+"/keys"), chromedp.WaitVisible(chromedp.CSS(keySel+" .last-result")))
	if got := text(keySel + " .last-result"); got != "ok" {
		t.Fatalf("last reshare: %q", got)
	}
	if got := text(keySel + " .reshare-report summary"); !strings.Contains(got, "Last reshare (revocation)") {
		t.Fatalf("last reshare: %q", got)
	}
	if got := text(keySel + " .committee"); got != "phone, laptop" {
		t.Fatalf("committee after the revocation: %q", got)
	}
	shot("08-keys")

	// A drill needs every device of the committee online: with the laptop
	// stopped it fails at once, and the Keys page says why.
	c.StopDevice(t, "laptop")
	run("drill", chromedp.Click(chromedp.CSS(keySel+" button.drill")), chromedp.WaitVisible(chromedp.CSS(keySel+" .drill-error")))
	if got := text(keySel + " .drill-error"); !strings.Contains(got, "offline: laptop") {
		t.Fatalf("failed drill: %q", got)
	}
	// It is the last drill; the last reshare is still the revocation's.
	if got := text(keySel + " .drill-result"); got != "failed" {
		t.Fatalf("last drill: %q", got)
	}
	if got := text(keySel + " .reshare-report summary"); !strings.Contains(got, "Last reshare (revocation)") {
		t.Fatalf("the failed drill replaced the last reshare: %q", got)
	}
	shot("09-drill-refused")

	// The audit trail, filtered by device, names what happened and who did it.
	run("audit", chromedp.Navigate(base+"/audit?device=tablet"), chromedp.WaitVisible(chromedp.CSS("#audit")))
	trail := text("#audit")
	for _, want := range []string{"pairing.create", "device.enroll", "device.approve", "device.revoke", "initial admin"} {
		if !strings.Contains(trail, want) {
			t.Errorf("the audit page for tablet lacks %q:\n%s", want, trail)
		}
	}
	if got := text("#chain-status"); !strings.Contains(got, "verified up to entry") {
		t.Errorf("chain status: %q", got)
	}
	shot("10-audit")

	// Sessions: the keygen, the drill's and the revocation's reshares.
	run("sessions", chromedp.Navigate(base+"/sessions"), chromedp.WaitVisible(chromedp.CSS("#recent")))
	if got := text("#recent"); !strings.Contains(got, "keygen") || !strings.Contains(got, "reshare") {
		t.Errorf("sessions page: %q", got)
	}
	shot("11-sessions")

	// Every page on a phone-sized screen: nothing wider than the screen,
	// and lists shown as cards (one block per row, no header row).
	type phoneLayout struct {
		ScrollWidth, InnerWidth int
		Rows, Heads             []string // computed display of table.list rows and headers
	}
	// onPhone checks a page at phone size; rows says it must have list rows.
	onPhone := func(path, sel, name string, rows bool) {
		t.Helper()
		run("phone size", chromedp.EmulateViewport(390, 844))
		defer run("laptop size", chromedp.EmulateViewport(1280, 900))
		run("phone "+path, chromedp.Navigate(base+path), chromedp.WaitVisible(chromedp.CSS(sel)))
		l, err := chromedp.Run(browser, chromedp.Evaluate[phoneLayout](`({
			scrollWidth: document.documentElement.scrollWidth, innerWidth: window.innerWidth,
			rows: Array.from(document.querySelectorAll("table.list tbody tr")).map(r => getComputedStyle(r).display),
			heads: Array.from(document.querySelectorAll("table.list thead")).map(h => getComputedStyle(h).display)})`))
		if err != nil {
			t.Fatal(err)
		}
		if l.InnerWidth != 390 || l.ScrollWidth > l.InnerWidth {
			t.Errorf("%s on a phone is %d px wide in a %d px window", path, l.ScrollWidth, l.InnerWidth)
		}
		if rows && len(l.Rows) == 0 {
			t.Errorf("%s on a phone has no list rows to check", path)
		}
		for _, d := range l.Rows {
			if d != "block" {
				t.Errorf("%s on a phone shows list rows as %q, not as cards", path, l.Rows)
				break
			}
		}
		for _, d := range l.Heads {
			if d != "none" {
				t.Errorf("%s on a phone shows the list's header row (%q)", path, l.Heads)
				break
			}
		}
		shot(name)
	}
	for _, p := range []struct {
		path, sel, name string
		rows            bool
	}{
		{"/devices", "#devices", "devices", true}, {"/keys", keySel, "keys", false}, {"/audit", "#audit", "audit", true},
		{"/sessions", "#recent", "sessions", true}, {"/roster", "#no-roster", "roster", false}, // no roster yet: nothing listed
		{"/requesters", "#no-roster", "requesters", false},
	} {
		onPhone(p.path, p.sel, "12-phone-"+p.name, p.rows)
	}

	// Forged POSTs from other origins, with the operator signed in. On the
	// same site (another port) the browser sends the session cookie, and the
	// console refuses the foreign Origin; from another site the cookie is not
	// even sent.
	forged := func(action string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, `<!doctype html><form id="forge" method="post" action="%s/devices/revoke">
<input name="device" value="phone"><input name="csrf" value="forged"><button id="go">win a prize</button></form>`, action)
		})
	}
	// The same-site page is served with the coordinator's certificate too:
	// the browser accepts no other.
	sameLis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sameSite := &http.Server{Handler: forged(base), TLSConfig: &tls.Config{GetCertificate: c.Server.GetCertificate}, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = sameSite.ServeTLS(sameLis, "", "") }()
	defer sameSite.Close()
	crossSite := httptest.NewServer(forged(base))
	defer crossSite.Close()
	for i, attacker := range []string{"https://" + sameLis.Addr().String(), strings.Replace(crossSite.URL, "127.0.0.1", "localhost", 1)} {
		run("forged POST from "+attacker,
			chromedp.Navigate(attacker),
			chromedp.WaitVisible(chromedp.CSS("#go")),
			chromedp.Click(chromedp.CSS("#go")),
			chromedp.WaitVisible(chromedp.CSS("#error-message")),
		)
		if got := text("#error-message"); !strings.Contains(got, "refused") {
			t.Errorf("forged POST from %s: %q", attacker, got)
		}
		shot(fmt.Sprintf("%02d-forged-post-refused", 13+i))
	}
	devs, err := c.Admin.ListDevices(context.Background(), &mpcv1.ListDevicesRequest{})
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range devs.GetDevices() {
		if d.GetName() == "phone" && d.GetStatus() != mpcv1.DeviceStatus_DEVICE_STATUS_ACTIVE {
			t.Fatalf("a forged POST revoked the phone")
		}
	}
	// Still signed in: the refusals did not disturb the session.
	run("still signed in", chromedp.Navigate(base+"/devices"), chromedp.WaitVisible(chromedp.CSS("#devices")))

	// No API token anywhere in what the browser was shown.
	for _, path := range []string{"/devices", "/keys", "/roster", "/requesters", "/audit", "/sessions"} {
		run("open "+path, chromedp.Navigate(base+path), chromedp.WaitReady(chromedp.CSS("main")))
		html, err := chromedp.Run(browser, chromedp.OuterHTML(chromedp.CSS("html")))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(html, strings.TrimPrefix(admin, "mpct_")) {
			t.Errorf("%s shows the admin token", path)
		}
	}

	// An operator starts a roster: the Roster page lists its genesis, and
	// the pages show mpcctl commands where a button would now be refused.
	// (The devices paired before it have no pin and ignore it.)
	op := testkit.NewOperator("alice")
	genesis := c.StartRoster(t, op)
	run("roster", chromedp.Navigate(base+"/roster"), chromedp.WaitVisible(chromedp.CSS("#roster-entries")))
	if got := text("#roster-genesis"); got != genesis.String() {
		t.Fatalf("roster page shows genesis %q, want %s", got, genesis)
	}
	if got := text(`#roster-entries tr[data-height="0"]`); !strings.Contains(got, "genesis") || !strings.Contains(got, "alice") {
		t.Fatalf("roster page's genesis entry: %q", got)
	}
	shot("15-roster")
	run("devices with a roster", chromedp.Navigate(base+"/devices"), chromedp.WaitVisible(chromedp.CSS(`tr[data-device="phone"] .add-cmd`)))
	if got := text(`tr[data-device="phone"] .add-cmd code.opcmd`); got != "mpcctl roster add-device phone --device-id ID" {
		t.Fatalf("phone's command with a roster: %q", got)
	}
	shot("16-devices-roster")
	run("keys with a roster", chromedp.Navigate(base+"/keys"), chromedp.WaitVisible(chromedp.CSS(keySel+" .drill-cmd")))
	if got := text(keySel + " .drill-cmd code.opcmd"); got != "mpcctl drill --key "+key {
		t.Fatalf("drill command: %q", got)
	}
	if n, err := chromedp.Run(browser, chromedp.Evaluate[int](`document.querySelectorAll("button.drill").length`)); err != nil || n != 0 {
		t.Fatalf("with a roster the keys page shows %d drill buttons (%v)", n, err)
	}
	shot("17-keys-roster")
	onPhone("/roster", "#roster-entries", "18-phone-roster", true)
	onPhone("/devices", "#devices", "19-phone-devices-roster", true)

	// A wallet backend's key on the roster, and one revoked: the Requesters
	// page (reached from the menu) lists both with their grants and the
	// commands an operator runs.
	wallet := c.AddRequester(t, op, "wallet", roster.Requester{Keys: []string{"*"}})
	old := c.AddRequester(t, op, "wallet-old", roster.Requester{Keys: []string{key}, Paths: []string{"m/44/60/0/0"}, MaxPerHour: 100})
	rb := c.Roster(t).Next(roster.KindRevokeRequester, time.Now())
	rb.RequesterID, rb.Reason = old.ID, "rotated"
	c.SubmitRoster(t, signedBy(t, rb, op))
	run("requesters", chromedp.Navigate(base+"/devices"), chromedp.Click(chromedp.CSS(`nav a[href="/requesters"]`)), chromedp.WaitVisible(chromedp.CSS("#requesters")))
	if got := text(`#requesters tr[data-requester="` + wallet.ID + `"]`); !strings.Contains(got, "all keys") || !strings.Contains(got, "active") ||
		!strings.Contains(got, "mpcctl requesters revoke wallet") {
		t.Fatalf("requesters page, wallet: %q", got)
	}
	if got := text(`#requesters tr[data-requester="` + old.ID + `"]`); !strings.Contains(got, "revoked") || !strings.Contains(got, "100 per device") {
		t.Fatalf("requesters page, revoked wallet-old: %q", got)
	}
	if got := text("#create-cmd"); !strings.HasPrefix(got, "mpcctl requesters create NAME --keys") {
		t.Fatalf("create command: %q", got)
	}
	shot("20-requesters")
	onPhone("/requesters", "#requesters", "21-phone-requesters", true)

	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		t.Fatal("the browser test hit its hang guard")
	}
}
