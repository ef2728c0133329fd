package coordinator

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/coordinator/relay"
	"github.com/mpcsign/mpcsign/internal/auditlog"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// listServer is a coordinator over a Badger store on disk, enough for the
// listings (no listener, no devices).
func listServer(t *testing.T) *Server {
	t.Helper()
	st, err := OpenBadgerStore(t.TempDir(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	links := relay.NewLinks()
	return &Server{store: st, links: links, sessions: relay.NewSessions(relay.Config{Links: links, Store: st, Now: time.Now})}
}

// pageThrough calls list with page tokens until the last page, and
// returns the ids of every page.
func pageThrough(t *testing.T, list func(token string) ([]string, string, error)) [][]string {
	t.Helper()
	var pages [][]string
	token := ""
	for range 100 {
		ids, next, err := list(token)
		if err != nil {
			t.Fatal(err)
		}
		pages = append(pages, ids)
		if next == "" {
			return pages
		}
		token = next
	}
	t.Fatal("the listing never ends")
	return nil
}

// seedDevicesAndKeys stores devices d0..d4 and keys k00..k22, each key
// held by d1 and d3, and returns their ids.
func seedDevicesAndKeys(t *testing.T, s *Server) (devIDs, keyIDs []string) {
	t.Helper()
	for i := range 5 {
		id := fmt.Sprintf("d%d", i)
		devIDs = append(devIDs, id)
		code := []byte("code-" + id)
		if err := s.store.CreatePairing(code, Pairing{Name: "name-" + id, ExpiresAt: time.Now().Add(time.Hour)}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.store.EnrollDevice(code, func(p *Pairing, _ bool, _ func(string) (Device, bool, error)) (*Device, error) {
			p.Used = true
			return &Device{ID: id, Name: p.Name, Status: DeviceActive}, nil
		}, nil); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 23 {
		id := fmt.Sprintf("k%02d", i)
		keyIDs = append(keyIDs, id)
		if err := s.store.PutKey(Key{ID: id, Curve: curveSecp256k1, Threshold: 1, Holders: []string{"d1", "d3"}}, nil); err != nil {
			t.Fatal(err)
		}
	}
	return devIDs, keyIDs
}

// keyPages lists keys with page_size size, a page per call.
func keyPages(s *Server, size int32) func(string) ([]string, string, error) {
	return func(token string) ([]string, string, error) {
		resp, err := s.ListKeys(context.Background(), &mpcv1.ListKeysRequest{PageSize: size, PageToken: token})
		var ids []string
		for _, k := range resp.GetKeys() {
			ids = append(ids, k.GetId())
			if len(k.GetHolders()) != 2 {
				return nil, "", fmt.Errorf("key %s has holders %v", k.GetId(), k.GetHolders())
			}
		}
		return ids, resp.GetNextPageToken(), err
	}
}

// TestListKeysPaged: ListKeys pages in id order, each key once, the last
// page without a next_page_token; a key added between pages after the
// cursor is listed in its place.
func TestListKeysPaged(t *testing.T) {
	s := listServer(t)
	_, keyIDs := seedDevicesAndKeys(t, s)
	pages := pageThrough(t, keyPages(s, 10))
	if len(pages) != 3 || len(pages[0]) != 10 || len(pages[2]) != 3 || !slices.Equal(slices.Concat(pages...), keyIDs) {
		t.Fatalf("pages of 10: %q", pages)
	}
	// A page size that divides the count: the last full page says so.
	if pages := pageThrough(t, keyPages(s, 23)); len(pages) != 1 || len(pages[0]) != 23 {
		t.Fatalf("a page of all 23: %q", pages)
	}
	// 0: the default page (100); over the maximum: the maximum.
	for _, size := range []int32{0, 5000} {
		if pages := pageThrough(t, keyPages(s, size)); len(pages) != 1 || !slices.Equal(pages[0], keyIDs) {
			t.Fatalf("page size %d: %q", size, pages)
		}
	}

	// A key added between pages, after the cursor, is listed; the others once.
	first, err := s.ListKeys(context.Background(), &mpcv1.ListKeysRequest{PageSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.store.PutKey(Key{ID: "k15a", Curve: curveSecp256k1, Holders: []string{"d1", "d3"}}, nil); err != nil {
		t.Fatal(err)
	}
	rest := pageThrough(t, func(token string) ([]string, string, error) {
		if token == "" {
			token = first.GetNextPageToken()
		}
		return keyPages(s, 10)(token)
	})
	var got []string
	for _, k := range first.GetKeys() {
		got = append(got, k.GetId())
	}
	got = slices.Concat(append([][]string{got}, rest...)...)
	if want := slices.Insert(slices.Clone(keyIDs), 16, "k15a"); !slices.Equal(got, want) {
		t.Fatalf("keys with one added between pages:\n got %q\nwant %q", got, want)
	}
}

// TestListDevicesPaged: ListDevices pages in id order, each device once,
// with the keys each holds.
func TestListDevicesPaged(t *testing.T) {
	s := listServer(t)
	devIDs, _ := seedDevicesAndKeys(t, s)
	pages := pageThrough(t, func(token string) ([]string, string, error) {
		resp, err := s.ListDevices(context.Background(), &mpcv1.ListDevicesRequest{PageSize: 2, PageToken: token})
		var ids []string
		for _, d := range resp.GetDevices() {
			ids = append(ids, d.GetId())
			if holds := d.GetId() == "d1" || d.GetId() == "d3"; holds != (len(d.GetKeyIds()) == 23) {
				return nil, "", fmt.Errorf("device %s lists %d keys", d.GetId(), len(d.GetKeyIds()))
			}
		}
		return ids, resp.GetNextPageToken(), err
	})
	if len(pages) != 3 || !slices.Equal(slices.Concat(pages...), devIDs) {
		t.Fatalf("device pages of 2: %q", pages)
	}
}

// TestListRefusesBadPaging: a negative page size and a page token the
// listing did not make are INVALID_ARGUMENT, saying what to do.
func TestListRefusesBadPaging(t *testing.T) {
	s := listServer(t)
	ctx := context.Background()
	for i := range 3 {
		if err := s.store.PutKey(Key{ID: fmt.Sprintf("k%d", i)}, nil); err != nil {
			t.Fatal(err)
		}
		if _, err := s.store.AppendAudit(auditlog.Entry{Action: "x", Result: "ok", Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
		if err := s.store.PutSession(SessionRecord{ID: fmt.Sprintf("s%d", i), Started: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	keysPage, err := s.ListKeys(ctx, &mpcv1.ListKeysRequest{PageSize: 1})
	if err != nil || keysPage.GetNextPageToken() == "" {
		t.Fatalf("a first page of keys: %v %v", keysPage, err)
	}
	keysToken := keysPage.GetNextPageToken()
	auditPage, err := s.ExportAudit(ctx, &mpcv1.ExportAuditRequest{PageSize: 1})
	if err != nil || auditPage.GetNextPageToken() == "" {
		t.Fatalf("a first page of the audit log: %v %v", auditPage, err)
	}
	const restart = "start the listing again without a page_token"
	for _, tc := range []struct {
		name string
		call func() error
		want string
	}{
		{"negative keys page", func() error { _, err := s.ListKeys(ctx, &mpcv1.ListKeysRequest{PageSize: -1}); return err },
			"page_size must not be negative: give 0 for the default (100) or a size up to 1000"},
		{"negative audit page", func() error { _, err := s.ExportAudit(ctx, &mpcv1.ExportAuditRequest{PageSize: -5}); return err },
			"page_size must not be negative: give 0 for the default (1000) or a size up to 10000"},
		{"negative devices page", func() error { _, err := s.ListDevices(ctx, &mpcv1.ListDevicesRequest{PageSize: -1}); return err }, "page_size must not be negative"},
		{"negative sessions page", func() error { _, err := s.ListSessions(ctx, &mpcv1.ListSessionsRequest{PageSize: -1}); return err }, "page_size must not be negative"},
		{"not base64", func() error { _, err := s.ListKeys(ctx, &mpcv1.ListKeysRequest{PageToken: "not a token!"}); return err }, restart},
		{"not JSON", func() error { _, err := s.ListKeys(ctx, &mpcv1.ListKeysRequest{PageToken: "bm90IGpzb24"}); return err }, restart},
		{"too long", func() error {
			_, err := s.ListKeys(ctx, &mpcv1.ListKeysRequest{PageToken: strings.Repeat("A", 2000)})
			return err
		}, restart},
		{"keys token to devices", func() error {
			_, err := s.ListDevices(ctx, &mpcv1.ListDevicesRequest{PageToken: keysToken})
			return err
		}, restart},
		{"keys token to sessions", func() error {
			_, err := s.ListSessions(ctx, &mpcv1.ListSessionsRequest{PageToken: keysToken})
			return err
		}, restart},
		{"audit token to keys", func() error {
			_, err := s.ListKeys(ctx, &mpcv1.ListKeysRequest{PageToken: auditPage.GetNextPageToken()})
			return err
		}, restart},
		{"keys token to the audit log", func() error {
			_, err := s.ExportAudit(ctx, &mpcv1.ExportAuditRequest{PageToken: keysToken})
			return err
		}, restart},
		{"a keys token without its cursor", func() error {
			tok, _ := (pageToken{List: listKeys}).encode()
			_, err := s.ListKeys(ctx, &mpcv1.ListKeysRequest{PageToken: tok})
			return err
		}, restart},
	} {
		err := tc.call()
		st, _ := publicStatus(err)
		if err == nil || st.Code() != codes.InvalidArgument || !strings.Contains(st.Message(), tc.want) {
			t.Errorf("%s: %v, want INVALID_ARGUMENT with %q", tc.name, err, tc.want)
		}
	}
}

// TestExportAuditPaged: the audit export pages by token from since_seq,
// the pages verify as one chain, and older clients' since_seq and limit
// still page as before.
func TestExportAuditPaged(t *testing.T) {
	s := listServer(t)
	ctx := context.Background()
	for i := range 25 {
		if _, err := s.store.AppendAudit(auditlog.Entry{Action: fmt.Sprintf("a%d", i), Result: "ok", Time: time.Now()}); err != nil {
			t.Fatal(err)
		}
	}
	var lines []string
	pages := pageThrough(t, func(token string) ([]string, string, error) {
		resp, err := s.ExportAudit(ctx, &mpcv1.ExportAuditRequest{SinceSeq: 1, PageSize: 10, PageToken: token})
		var page []string
		for _, e := range resp.GetEntries() {
			page = append(page, string(e))
		}
		if resp.GetHeight() != 25 {
			return nil, "", fmt.Errorf("height %d", resp.GetHeight())
		}
		lines = append(lines, page...)
		return page, resp.GetNextPageToken(), err
	})
	if len(pages) != 3 || len(pages[2]) != 5 {
		t.Fatalf("%d pages of %d, %d, ...", len(pages), len(pages[0]), len(pages[len(pages)-1]))
	}
	if n, _, err := auditlog.Verify(strings.NewReader(strings.Join(lines, "\n"))); err != nil || n != 25 {
		t.Fatalf("the pages do not verify as one chain: %d %v", n, err)
	}
	// From seq 21: one page of five.
	if pages := pageThrough(t, func(token string) ([]string, string, error) {
		resp, err := s.ExportAudit(ctx, &mpcv1.ExportAuditRequest{SinceSeq: 21, PageSize: 10, PageToken: token})
		return make([]string, len(resp.GetEntries())), resp.GetNextPageToken(), err
	}); len(pages) != 1 || len(pages[0]) != 5 {
		t.Fatalf("from seq 21: %d pages", len(pages))
	}
	// An older client: since_seq and limit, no token.
	old, err := s.ExportAudit(ctx, &mpcv1.ExportAuditRequest{SinceSeq: 8, Limit: 2})
	if err != nil || len(old.GetEntries()) != 2 || !strings.Contains(string(old.GetEntries()[0]), `"seq":8`) {
		t.Fatalf("since_seq 8, limit 2: %v %v", old, err)
	}
	if all, err := s.ExportAudit(ctx, &mpcv1.ExportAuditRequest{}); err != nil || len(all.GetEntries()) != 25 || all.GetNextPageToken() != "" {
		t.Fatalf("the default page: %d entries, token %q, %v", len(all.GetEntries()), all.GetNextPageToken(), err)
	}
}

// TestPageSize: 0 is the default, an older client's limit counts when
// page_size is 0, and anything above the maximum is the maximum.
func TestPageSize(t *testing.T) {
	for _, tc := range []struct {
		size   int32
		legacy uint32
		want   int
	}{
		{0, 0, 100}, {1, 0, 1}, {1000, 0, 1000}, {1001, 0, 1000}, {1 << 30, 0, 1000},
		{0, 7, 7}, {0, 5000, 1000}, {3, 7, 3},
	} {
		if got, err := pageSize(tc.size, tc.legacy, defaultPageSize, maxPageSize); err != nil || got != tc.want {
			t.Errorf("pageSize(%d, %d) = %d, %v; want %d", tc.size, tc.legacy, got, err, tc.want)
		}
	}
}
