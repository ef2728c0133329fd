package console

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"sort"
	"strings"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	"github.com/mpcsign/mpcsign/internal/pagelist"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

// auditShown bounds the entries one page shows; the export has them all.
const auditShown = 500

// auditLog is the whole audit log as stored, with how far its chain checks.
type auditLog struct {
	lines   [][]byte // exactly as hashed
	entries []auditlog.Entry
	height  uint64
	// verified is how many entries, from the first, chain correctly;
	// broken says what is wrong with the next one.
	verified int
	broken   string
}

// auditPageSize is the page the console reads the log in: the
// coordinator's largest.
const auditPageSize = 10000

// readAudit reads the whole log through ExportAudit, page after page, and
// checks its chain.
func (c *Console) readAudit(q *request) (*auditLog, error) {
	log := &auditLog{}
	lines, err := pagelist.All(0, func(token string) ([][]byte, string, error) {
		resp, err := c.coord.ExportAudit(q.ctx, &mpcv1.ExportAuditRequest{SinceSeq: 1, PageSize: auditPageSize, PageToken: token})
		log.height = resp.GetHeight()
		return resp.GetEntries(), resp.GetNextPageToken(), err
	})
	if err != nil {
		return nil, c.adminError("ExportAudit", err)
	}
	for i, b := range lines {
		var e auditlog.Entry
		if err := json.Unmarshal(b, &e); err != nil {
			return nil, fmt.Errorf("audit entry %d of the export: %w", i+1, err)
		}
		log.lines, log.entries = append(log.lines, b), append(log.entries, e)
	}
	// Verify checks the log from entry 1, and each line as its entry's
	// encoding.
	n, _, err := auditlog.Verify(bytes.NewReader(bytes.Join(append(log.lines, nil), []byte("\n"))))
	log.verified = n
	var be *auditlog.BrokenError
	switch {
	case errors.As(err, &be):
		log.verified, log.broken = be.Line-1, be.Reason
	case err != nil:
		return nil, err
	case uint64(n) != log.height:
		log.broken = fmt.Sprintf("the log's head is entry %d but only %d entries were read", log.height, n)
	}
	return log, nil
}

// auditFilter is the Audit page's filter: every field given must match.
type auditFilter struct {
	Key, Device, Action string
}

func filterOf(r *http.Request) auditFilter {
	q := r.URL.Query()
	return auditFilter{Key: strings.TrimSpace(q.Get("key")), Device: strings.TrimSpace(q.Get("device")), Action: strings.TrimSpace(q.Get("action"))}
}

func (f auditFilter) match(e auditlog.Entry) bool {
	return (f.Key == "" || e.KeyID == f.Key) &&
		(f.Action == "" || e.Action == f.Action) &&
		(f.Device == "" || slices.Contains(e.Devices, f.Device) || slices.Contains(e.Culprits, f.Device))
}

func (f auditFilter) query() string {
	var parts []string
	for _, kv := range [][2]string{{"key", f.Key}, {"device", f.Device}, {"action", f.Action}} {
		if kv[1] != "" {
			parts = append(parts, kv[0]+"="+url.QueryEscape(kv[1]))
		}
	}
	return strings.Join(parts, "&")
}

type auditRow struct {
	auditlog.Entry
	// Who acted: an API token's name and id, or the actor as recorded.
	ActorName, ActorToken string
}

func (c *Console) auditPage(w http.ResponseWriter, r *http.Request, q *request) error {
	log, err := c.readAudit(q)
	if err != nil {
		return err
	}
	f := filterOf(r)
	actors := c.tokenNames(q)
	actions := map[string]bool{}
	var rows []auditRow
	matched := 0
	for i := len(log.entries) - 1; i >= 0; i-- {
		e := log.entries[i]
		actions[e.Action] = true
		if !f.match(e) {
			continue
		}
		matched++
		if len(rows) < auditShown {
			row := auditRow{Entry: e, ActorName: e.Actor}
			if id, ok := strings.CutPrefix(e.Actor, "token:"); ok {
				row.ActorName, row.ActorToken = actors[id], id
				if row.ActorName == "" {
					row.ActorName = "unknown token"
				}
			}
			rows = append(rows, row)
		}
	}
	var actionList []string
	for a := range actions {
		actionList = append(actionList, a)
	}
	sort.Strings(actionList)
	export := "/audit/export"
	if qs := f.query(); qs != "" {
		export += "?" + qs
	}
	c.render(w, q, http.StatusOK, "audit.html", "Audit", "audit", map[string]any{
		"Rows": rows, "Matched": matched, "Total": len(log.entries), "Shown": auditShown, "Filter": f, "Actions": actionList,
		"Height": log.height, "Verified": log.verified, "Broken": log.broken, "BrokenAt": log.verified + 1, "Export": export,
	})
	return nil
}

// auditExport sends the entries that match the filter as JSON lines, exactly
// as stored and oldest first: the whole log (no filter) is what `mpcctl
// audit verify` checks.
func (c *Console) auditExport(w http.ResponseWriter, r *http.Request, q *request) error {
	log, err := c.readAudit(q)
	if err != nil {
		return err
	}
	f := filterOf(r)
	name := "mpcsign-audit.jsonl"
	if f != (auditFilter{}) {
		name = "mpcsign-audit-filtered.jsonl"
	}
	w.Header().Set("Content-Type", "application/jsonl")
	w.Header().Set("Content-Disposition", `attachment; filename="`+name+`"`)
	var buf bytes.Buffer
	for i, e := range log.entries {
		if f.match(e) {
			buf.Write(log.lines[i])
			buf.WriteByte('\n')
		}
	}
	_, _ = w.Write(buf.Bytes())
	return nil
}

// tokenNames maps API token ids to their names, to show who acted.
func (c *Console) tokenNames(q *request) map[string]string {
	resp, err := c.coord.ListTokens(q.ctx, &mpcv1.ListTokensRequest{})
	if err != nil {
		c.log.Warn("could not list tokens for the audit page", "err", c.adminError("ListTokens", err))
		return nil
	}
	out := map[string]string{}
	for _, t := range resp.GetTokens() {
		out[t.GetId()] = t.GetName()
	}
	return out
}
