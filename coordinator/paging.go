package coordinator

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"time"
)

// Paging of the admin API's listings, after Google's AIP-158: a request's
// page_size (0: the listing's default; above its maximum: the maximum;
// negative: refused) and page_token (the previous page's
// next_page_token), and a response's next_page_token ("" on the last
// page). A listing reads one page from the store, from where the token
// says the last one stopped, and one record more to know whether another
// page follows.

// Page sizes of the listings of keys, devices and sessions; the audit
// export has its own (its entries are small, and older clients asked for
// up to 10000).
const (
	defaultPageSize      = 100
	maxPageSize          = 1000
	defaultAuditPageSize = 1000
	maxAuditPageSize     = 10000
)

// maxPageToken bounds the length of a page token a client may send back.
const maxPageToken = 1024

// Listings a page token continues.
const (
	listKeys     = "keys"
	listDevices  = "devices"
	listSessions = "sessions"
	listAudit    = "audit"
)

// pageToken is where a listing stopped. It reaches clients as base64url
// JSON: opaque to them, and not a secret (a token only says where an
// admin's listing goes on, and any admin may list everything).
type pageToken struct {
	// List is the listing that made the token: another refuses it.
	List string `json:"l"`
	// After is the id of the last record of the page; Started, for
	// sessions, its start time.
	After   []byte     `json:"a,omitempty"`
	Started *time.Time `json:"t,omitempty"`
	// Seq is the audit entry the next page starts at.
	Seq uint64 `json:"s,omitempty"`
}

// encode is the token as a client sees it.
func (t pageToken) encode() (string, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return "", fmt.Errorf("page token: %w", err) // a time beyond year 9999
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}

// errPageToken is the refusal of a page token the listing did not make.
var errPageToken = invalidArg("page_token is not one this listing returned (malformed, or from another listing): start the listing again without a page_token")

// parsePageToken reads the page token s of listing list ("": the first
// page, the zero token).
func parsePageToken(s, list string) (pageToken, error) {
	if s == "" {
		return pageToken{}, nil
	}
	if len(s) > maxPageToken {
		return pageToken{}, errPageToken
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return pageToken{}, errPageToken
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	var t pageToken
	if err := dec.Decode(&t); err != nil || dec.More() || t.List != list {
		return pageToken{}, errPageToken
	}
	ok := false
	switch list {
	case listKeys, listDevices:
		ok = len(t.After) > 0 && t.Started == nil && t.Seq == 0
	case listSessions:
		ok = t.Started != nil && t.Seq == 0
	case listAudit:
		ok = t.Seq > 0 && len(t.After) == 0 && t.Started == nil
	}
	if !ok {
		return pageToken{}, errPageToken
	}
	return t, nil
}

// pageSize is the size of the page a request asks for: size, or older
// clients' legacy limit when size is 0, or def when both are; at most max.
func pageSize(size int32, legacy uint32, def, max int) (int, error) {
	if size < 0 {
		return 0, invalidArg("page_size must not be negative: give 0 for the default (%d) or a size up to %d", def, max)
	}
	n := int(size)
	if n == 0 {
		n = int(min(legacy, uint32(max)))
	}
	if n == 0 {
		n = def
	}
	return min(n, max), nil
}
