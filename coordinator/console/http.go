package console

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"io/fs"
	"net"
	"net/http"
	"strings"
	"time"

	"google.golang.org/grpc/codes"

	"github.com/mpcsign/mpcsign/coordinator"
)

// maxForm bounds a POST body; the console's forms are tiny.
const maxForm = 16 << 10

// securityHeaders sets the headers every response carries: a strict
// Content-Security-Policy (scripts, styles and images only from the console
// itself, nothing inline, no framing), no caching anywhere, no referrer.
func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; "+
			"form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin") // "no-referrer" would make browsers send Origin: null
		h.Set("Cache-Control", "no-store")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()")
		next.ServeHTTP(w, r)
	})
}

// request is what a handler of a signed-in page gets.
type request struct {
	sess *session
	// ctx carries the session's token as the caller of admin methods.
	ctx context.Context
}

type handlerFunc func(w http.ResponseWriter, r *http.Request, q *request) error

// httpError is an error page with a status and a message safe to show.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func badRequest(msg string) error { return &httpError{http.StatusBadRequest, msg} }

// adminError turns an admin method's error into what the operator may see.
func (c *Console) adminError(method string, err error) error {
	st := c.coord.PublicError(method, err)
	code := http.StatusInternalServerError
	switch st.Code() {
	case codes.InvalidArgument:
		code = http.StatusBadRequest
	case codes.NotFound:
		code = http.StatusNotFound
	case codes.AlreadyExists, codes.FailedPrecondition, codes.Aborted:
		code = http.StatusConflict
	case codes.PermissionDenied:
		code = http.StatusForbidden
	case codes.Unauthenticated:
		code = http.StatusUnauthorized
	case codes.Unavailable:
		code = http.StatusServiceUnavailable
	case codes.DeadlineExceeded:
		code = http.StatusGatewayTimeout
	}
	return &httpError{code, st.Message()}
}

// signedIn finds the request's session and checks that its token still
// works. Without one it answers and returns nil.
func (c *Console) signedIn(w http.ResponseWriter, r *http.Request, answer func()) *request {
	ss, id := c.sessionOf(r)
	if ss == nil {
		answer()
		return nil
	}
	ctx, err := c.coord.AsAdmin(r.Context(), ss.token)
	if err != nil {
		c.sessions.end(id)
		clearSessionCookie(w)
		if !errors.Is(err, coordinator.ErrUnauthenticated) {
			c.log.Error("token check failed", "err", err)
		}
		c.log.Info("console session ended: its token no longer works", "token", ss.token.ID)
		answer()
		return nil
	}
	return &request{sess: ss, ctx: ctx}
}

// page serves a signed-in page; without a session it goes to sign-in.
func (c *Console) page(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := c.signedIn(w, r, func() { http.Redirect(w, r, "/login", http.StatusSeeOther) })
		if q != nil {
			c.finish(w, r, q, h(w, r, q))
		}
	})
}

// action serves a POST from a signed-in page: it must come from the
// console's own origin and carry the session's CSRF token.
func (c *Console) action(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !sameOrigin(r) {
			c.log.Warn("refused a cross-origin POST", "path", r.URL.Path, "origin", clipHeader(r.Header.Get("Origin")), "remote", r.RemoteAddr)
			c.fail(w, r, nil, &httpError{http.StatusForbidden, "This request did not come from the console's own pages, so it was refused."})
			return
		}
		r.Body = http.MaxBytesReader(w, r.Body, maxForm)
		if err := r.ParseForm(); err != nil {
			c.fail(w, r, nil, badRequest("The form could not be read."))
			return
		}
		q := c.signedIn(w, r, func() { http.Redirect(w, r, "/login", http.StatusSeeOther) })
		if q == nil {
			return
		}
		if !validCSRF(r, q.sess) {
			c.log.Warn("refused a POST without a valid CSRF token", "path", r.URL.Path, "remote", r.RemoteAddr)
			c.fail(w, r, q, &httpError{http.StatusForbidden, "This form is out of date or was not made by the console, so it was refused. Reload the page and try again."})
			return
		}
		c.finish(w, r, q, h(w, r, q))
	})
}

// api serves JSON to a signed-in page's script.
func (c *Console) api(h handlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		q := c.signedIn(w, r, func() { writeJSON(w, http.StatusUnauthorized, map[string]string{"error": "signed out"}) })
		if q == nil {
			return
		}
		if err := h(w, r, q); err != nil {
			var he *httpError
			if !errors.As(err, &he) {
				c.log.Error("internal error", "path", r.URL.Path, "err", err)
				he = &httpError{http.StatusInternalServerError, "internal error (see the coordinator's log)"}
			}
			writeJSON(w, he.status, map[string]string{"error": he.msg})
		}
	})
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// finish shows err, if any, as an error page.
func (c *Console) finish(w http.ResponseWriter, r *http.Request, q *request, err error) {
	if err != nil {
		c.fail(w, r, q, err)
	}
}

func (c *Console) fail(w http.ResponseWriter, r *http.Request, q *request, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		c.log.Error("internal error", "path", r.URL.Path, "err", err)
		he = &httpError{http.StatusInternalServerError, "Internal error (see the coordinator's log)."}
	}
	c.render(w, q, he.status, "error.html", "Refused", "", map[string]any{"Status": he.status, "Message": he.msg})
}

// back redirects to path with a message for the next page.
func (c *Console) back(w http.ResponseWriter, r *http.Request, q *request, path, kind, text string) error {
	c.sessions.setFlash(q.sess, kind, text)
	http.Redirect(w, r, path, http.StatusSeeOther)
	return nil
}

// pageData is what every page template gets.
type pageData struct {
	Title string
	Nav   string
	User  string // the signed-in token's name; empty when signed out
	CSRF  string
	Flash *flash
	Poll  int // milliseconds between progress polls
	Data  any
}

type pageTemplate struct{ t *template.Template }

func parsePages(now func() time.Time) (map[string]*pageTemplate, error) {
	funcs := templateFuncs(now)
	names, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return nil, err
	}
	pages := map[string]*pageTemplate{}
	for _, n := range names {
		base := strings.TrimPrefix(n, "templates/")
		if base == "layout.html" {
			continue
		}
		t, err := template.New(base).Funcs(funcs).ParseFS(templateFS, "templates/layout.html", n)
		if err != nil {
			return nil, err
		}
		pages[base] = &pageTemplate{t}
	}
	return pages, nil
}

// render writes a page. q is nil on pages shown signed out.
func (c *Console) render(w http.ResponseWriter, q *request, status int, page, title, nav string, data any) {
	d := pageData{Title: title, Nav: nav, Data: data, Poll: int(c.opts.PollInterval.Milliseconds())}
	if q != nil {
		d.User, d.CSRF, d.Flash = q.sess.token.Name, q.sess.csrf, c.sessions.takeFlash(q.sess)
	}
	var buf bytes.Buffer
	if err := c.pages[page].t.ExecuteTemplate(&buf, "layout", d); err != nil {
		c.log.Error("render", "page", page, "err", err)
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	_, _ = w.Write(buf.Bytes())
}

// remoteHost is the client's address without its port, for the sign-in limit.
func remoteHost(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}

// clipHeader bounds a header value before it is logged.
func clipHeader(s string) string {
	if len(s) > 100 {
		return s[:100] + "..."
	}
	return s
}
