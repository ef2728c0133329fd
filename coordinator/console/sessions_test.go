package console

import (
	"fmt"
	"html"
	"io"
	"log/slog"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/mpcsign/mpcsign/coordinator"
)

var (
	sessionKeys = regexp.MustCompile(`<td data-label="Key" class="mono small">(key-\d+)</td>`)
	olderLink   = regexp.MustCompile(`<a id="older" href="(/sessions\?page=[^"]+)">`)
)

// The Sessions page shows the newest finished sessions, and links to the
// older ones a page at a time: every session once, newest first.
func TestSessionsPages(t *testing.T) {
	st, err := coordinator.OpenBadgerStore(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	f := newFixtureOn(t, st, func(s *coordinator.Server) Coordinator { return s })
	const n = 2*sessionsShown + 50
	start := time.Date(2026, 3, 4, 5, 6, 7, 0, time.UTC)
	var want []string
	for i := range n {
		r := coordinator.SessionRecord{ID: fmt.Sprintf("s%03d", i), Kind: "sign", KeyID: fmt.Sprintf("key-%03d", i), Devices: []string{"a", "b"},
			Started: start.Add(time.Duration(i) * time.Second), Finished: start.Add(time.Duration(i)*time.Second + time.Millisecond), OK: true}
		if err := st.PutSession(r); err != nil {
			t.Fatal(err)
		}
		want = append([]string{r.KeyID}, want...)
	}
	b := f.browser().signedIn()
	var got []string
	path := "/sessions"
	for pages := 1; ; pages++ {
		p := b.get(path)
		if p.status != http.StatusOK {
			t.Fatalf("%s: status %d: %s", path, p.status, p.body)
		}
		rows := sessionKeys.FindAllStringSubmatch(p.body, -1)
		for _, m := range rows {
			got = append(got, m[1])
		}
		if first := pages == 1; first != strings.Contains(p.body, `<h2>Running</h2>`) || first == strings.Contains(p.body, "Newest sessions") {
			t.Fatalf("page %d: the running sessions are shown on the first page only, the link to the newest on the others:\n%s", pages, p.body)
		}
		m := olderLink.FindStringSubmatch(p.body)
		if m == nil {
			if pages != 3 || len(rows) != 50 {
				t.Fatalf("%d pages, the last of %d sessions", pages, len(rows))
			}
			break
		}
		if len(rows) != sessionsShown {
			t.Fatalf("page %d shows %d sessions", pages, len(rows))
		}
		path = html.UnescapeString(m[1])
	}
	if !slices.Equal(got, want) {
		t.Fatalf("sessions shown: %d, want each of %d once, newest first", len(got), len(want))
	}
	if p := b.get("/sessions?page=bm90IGEgdG9rZW4"); p.status != http.StatusBadRequest || !strings.Contains(p.body, "start again from the newest sessions") {
		t.Fatalf("a bad page link: status %d: %s", p.status, p.body)
	}
}
