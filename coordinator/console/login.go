package console

import (
	"errors"
	"net/http"
	"strings"

	"github.com/mpcsign/mpcsign/coordinator"
)

func (c *Console) loginPage(w http.ResponseWriter, r *http.Request) {
	if ss, _ := c.sessionOf(r); ss != nil {
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
		return
	}
	c.render(w, nil, http.StatusOK, "login.html", "Sign in", "", nil)
}

// login checks an admin API token against the coordinator's token store and
// starts a session. The token itself is never kept or shown: the session
// knows the token's public id and name.
func (c *Console) login(w http.ResponseWriter, r *http.Request) {
	refuse := func(status int, msg string) {
		c.render(w, nil, status, "login.html", "Sign in", "", map[string]string{"Error": msg})
	}
	if !sameOrigin(r) {
		c.log.Warn("refused a cross-origin sign-in", "origin", clipHeader(r.Header.Get("Origin")), "remote", r.RemoteAddr)
		refuse(http.StatusForbidden, "This sign-in did not come from the console's own page, so it was refused.")
		return
	}
	addr := remoteHost(r)
	if !c.logins.allowed(addr) {
		refuse(http.StatusTooManyRequests, "Too many wrong tokens from your address: wait a minute and try again.")
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		refuse(http.StatusBadRequest, "The form could not be read.")
		return
	}
	tok, err := c.coord.CheckAdminToken(strings.TrimSpace(r.PostFormValue("token")))
	if err != nil {
		if !errors.Is(err, coordinator.ErrUnauthenticated) {
			c.log.Error("token check failed", "err", err)
			refuse(http.StatusInternalServerError, "The token could not be checked (see the coordinator's log).")
			return
		}
		c.logins.failed(addr)
		c.log.Warn("sign-in refused", "remote", r.RemoteAddr)
		refuse(http.StatusUnauthorized, "That is not a valid admin token.")
		return
	}
	// A fresh id at every sign-in, so an id set before it is worth nothing.
	if _, old := c.sessionOf(r); old != "" {
		c.sessions.end(old)
	}
	setSessionCookie(w, c.sessions.create(tok))
	c.log.Info("signed in", "token", tok.ID, "name", tok.Name, "remote", r.RemoteAddr)
	http.Redirect(w, r, "/devices", http.StatusSeeOther)
}

func (c *Console) logout(w http.ResponseWriter, r *http.Request, q *request) error {
	if _, id := c.sessionOf(r); id != "" {
		c.sessions.end(id)
	}
	clearSessionCookie(w)
	c.log.Info("signed out", "token", q.sess.token.ID)
	http.Redirect(w, r, "/login", http.StatusSeeOther)
	return nil
}
