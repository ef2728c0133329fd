package console

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"net/http"
	"sync"
	"time"

	"github.com/mpcsign/mpcsign/coordinator"
)

// cookieName has the __Host- prefix: browsers accept it only when Secure,
// with Path=/ and no Domain, so no other host can set or shadow it.
const cookieName = "__Host-mpcsign-console"

// maxSessions bounds the sessions kept in memory; the oldest goes first.
const maxSessions = 256

// session is a signed-in operator. The browser holds only a random id; the
// store knows it by the id's hash.
type session struct {
	token    coordinator.AdminToken
	csrf     string
	created  time.Time
	lastUsed time.Time
	flash    *flash // shown once, on the next page
}

// flash is a one-time message for the next page.
type flash struct {
	Kind string // ok or error
	Text string
}

type sessionStore struct {
	mu     sync.Mutex
	now    func() time.Time
	idle   time.Duration
	maxAge time.Duration
	byHash map[[32]byte]*session
}

func newSessionStore(now func() time.Time, idle, maxAge time.Duration) *sessionStore {
	return &sessionStore{now: now, idle: idle, maxAge: maxAge, byHash: map[[32]byte]*session{}}
}

func randomToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails: since Go 1.24 it crashes the program instead
	return base64.RawURLEncoding.EncodeToString(b[:])
}

func idHash(id string) [32]byte { return sha256.Sum256([]byte("mpcsign/v1/console-session\x00" + id)) }

// create starts a session for t and returns its cookie value.
func (s *sessionStore) create(t coordinator.AdminToken) string {
	id := randomToken()
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.sweepLocked(now)
	if len(s.byHash) >= maxSessions {
		var oldest [32]byte
		var at time.Time
		for h, ss := range s.byHash {
			if at.IsZero() || ss.lastUsed.Before(at) {
				oldest, at = h, ss.lastUsed
			}
		}
		delete(s.byHash, oldest)
	}
	s.byHash[idHash(id)] = &session{token: t, csrf: randomToken(), created: now, lastUsed: now}
	return id
}

// get returns the live session of id (and marks it used), or nil.
func (s *sessionStore) get(id string) *session {
	if id == "" || len(id) > 64 {
		return nil
	}
	now := s.now()
	h := idHash(id)
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.byHash[h]
	if ss == nil {
		return nil
	}
	if s.expired(ss, now) {
		delete(s.byHash, h)
		return nil
	}
	ss.lastUsed = now
	return ss
}

func (s *sessionStore) expired(ss *session, now time.Time) bool {
	return now.Sub(ss.lastUsed) > s.idle || now.Sub(ss.created) > s.maxAge
}

func (s *sessionStore) sweepLocked(now time.Time) {
	for h, ss := range s.byHash {
		if s.expired(ss, now) {
			delete(s.byHash, h)
		}
	}
}

func (s *sessionStore) end(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.byHash, idHash(id))
}

func (s *sessionStore) setFlash(ss *session, kind, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss.flash = &flash{Kind: kind, Text: text}
}

func (s *sessionStore) takeFlash(ss *session) *flash {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := ss.flash
	ss.flash = nil
	return f
}

// sessionOf is the request's live session, or nil.
func (c *Console) sessionOf(r *http.Request) (*session, string) {
	ck, err := r.Cookie(cookieName)
	if err != nil {
		return nil, ""
	}
	return c.sessions.get(ck.Value), ck.Value
}

func setSessionCookie(w http.ResponseWriter, id string) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: id, Path: "/", HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

func clearSessionCookie(w http.ResponseWriter) {
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: true, SameSite: http.SameSiteStrictMode})
}

// validCSRF checks the form's csrf field against the session's token.
func validCSRF(r *http.Request, ss *session) bool {
	got := r.PostFormValue("csrf")
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(ss.csrf)) == 1
}

// sameOrigin reports whether a state-changing request comes from one of the
// console's own pages. Browsers send Sec-Fetch-Site and Origin with every
// POST; a request with neither is refused too (the console serves browsers).
func sameOrigin(r *http.Request) bool {
	site := r.Header.Get("Sec-Fetch-Site")
	if site != "" && site != "same-origin" {
		return false
	}
	origin := r.Header.Get("Origin")
	if origin == "" {
		return site == "same-origin"
	}
	return origin == "https://"+r.Host
}

// loginLimiter slows down token guessing from one address: after
// maxFailures wrong tokens within failureWindow it refuses sign-ins from
// there until the window has passed. (Tokens carry 256 random bits; this
// keeps the log readable and the store quiet under a flood.)
type loginLimiter struct {
	mu       sync.Mutex
	now      func() time.Time
	failures map[string][]time.Time
}

const (
	maxFailures   = 10
	failureWindow = time.Minute
)

func newLoginLimiter(now func() time.Time) *loginLimiter {
	return &loginLimiter{now: now, failures: map[string][]time.Time{}}
}

func (l *loginLimiter) recent(addr string, now time.Time) []time.Time {
	fs := l.failures[addr]
	i := 0
	for i < len(fs) && now.Sub(fs[i]) > failureWindow {
		i++
	}
	fs = fs[i:]
	if len(fs) == 0 {
		delete(l.failures, addr)
	} else {
		l.failures[addr] = fs
	}
	return fs
}

func (l *loginLimiter) allowed(addr string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.recent(addr, l.now())) < maxFailures
}

func (l *loginLimiter) failed(addr string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	now := l.now()
	if len(l.failures) > 4096 { // a flood from many addresses: start over
		l.failures = map[string][]time.Time{}
	}
	l.failures[addr] = append(l.recent(addr, now), now)
}
