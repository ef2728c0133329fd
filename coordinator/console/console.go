// Package console is the operator's web console: devices, keys, revocation,
// drills, the roster and its requesters, the audit trail and sessions in a
// browser.
//
// The coordinator serves it on its own listen address, over TLS with the
// coordinator's certificate. An operator signs in with an admin API token;
// the console keeps a server-side session behind a random cookie (HttpOnly,
// Secure, SameSite=Strict) and calls the coordinator's admin methods in the
// same process, as that token, so every action is audited under it exactly as
// over gRPC. Every POST must come from the console's own origin and carry the
// session's CSRF token. Pages are server-rendered from embedded templates
// with a strict Content-Security-Policy (no inline script or style); a little
// embedded JavaScript polls JSON endpoints for live progress. No share, key
// material or API token is ever rendered.
//
// Once the coordinator has an operator-signed roster, approving or revoking
// a device and drilling a key need an operator's signature, which the
// console cannot make: it runs on the coordinator and holds no operator key.
// Its pages then show the mpcctl command to run on the operator's own
// machine instead of a button the coordinator would refuse. The Roster page
// shows the coordinator's copy of the roster and what waits for signatures;
// the Requesters page, the wallet backends' keys on it that may sign Sign
// requests, with the mpcctl commands that register, change and revoke them.
package console

import (
	"context"
	"crypto/tls"
	"embed"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"time"

	"google.golang.org/grpc/status"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/internal/httpserve"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Coordinator is what the console needs of the coordinator: its admin
// methods, called in-process, and its API token checks.
// *coordinator.Server is one.
type Coordinator interface {
	mpcv1.AdminServiceServer
	// CheckAdminToken checks a token presented at sign-in.
	CheckAdminToken(token string) (coordinator.AdminToken, error)
	// AsAdmin returns ctx carrying the token as the caller of admin methods
	// (the audit log's actor), or an error once the token is revoked.
	AsAdmin(ctx context.Context, t coordinator.AdminToken) (context.Context, error)
	// PublicError is what a client may see of an admin method's error.
	PublicError(method string, err error) *status.Status
}

// Options configures a Console. Zero values mean the defaults.
type Options struct {
	Coordinator Coordinator
	// GetCertificate gives the certificate to serve to browsers: the
	// coordinator's own (*coordinator.Server.GetCertificate), so the one
	// pinned fingerprint covers both, and a rotation covers both too.
	GetCertificate func(*tls.ClientHelloInfo) (*tls.Certificate, error)
	Logger         *slog.Logger
	Now            func() time.Time
	// IdleTimeout ends a session unused this long (default 30 minutes);
	// MaxAge ends any session this long after sign-in (default 12 hours).
	IdleTimeout time.Duration
	MaxAge      time.Duration
	// PollInterval is how often the pages' JavaScript asks for progress
	// (default 1 s).
	PollInterval time.Duration
}

// Console is the web console's HTTP handler and server.
type Console struct {
	opts     Options
	log      *slog.Logger
	coord    Coordinator
	sessions *sessionStore
	logins   *loginLimiter
	pages    map[string]*pageTemplate
	drills   *drills
	handler  http.Handler
}

// New makes a console for the coordinator in opts.
func New(opts Options) (*Console, error) {
	if opts.Coordinator == nil || opts.GetCertificate == nil {
		return nil, errors.New("console: no coordinator or no certificate")
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.IdleTimeout <= 0 {
		opts.IdleTimeout = 30 * time.Minute
	}
	if opts.MaxAge <= 0 {
		opts.MaxAge = 12 * time.Hour
	}
	if opts.PollInterval <= 0 {
		opts.PollInterval = time.Second
	}
	pages, err := parsePages(opts.Now)
	if err != nil {
		return nil, fmt.Errorf("console: templates: %w", err)
	}
	c := &Console{
		opts:     opts,
		log:      opts.Logger.With("component", "console"),
		coord:    opts.Coordinator,
		sessions: newSessionStore(opts.Now, opts.IdleTimeout, opts.MaxAge),
		logins:   newLoginLimiter(opts.Now),
		pages:    pages,
		drills:   newDrills(opts.Now),
	}
	c.handler = c.routes()
	return c, nil
}

// Handler serves the console (it expects TLS in front: its cookie is Secure).
func (c *Console) Handler() http.Handler { return c.handler }

func (c *Console) routes() http.Handler {
	mux := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	files := http.StripPrefix("/static/", http.FileServerFS(static))
	mux.HandleFunc("GET /static/{file}", func(w http.ResponseWriter, r *http.Request) { files.ServeHTTP(w, r) })
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/devices", http.StatusSeeOther)
	})
	mux.HandleFunc("GET /login", c.loginPage)
	mux.HandleFunc("POST /login", c.login)
	mux.Handle("POST /logout", c.action(c.logout))

	mux.Handle("GET /devices", c.page(c.devicesPage))
	mux.Handle("POST /devices/pair", c.action(c.pairDevice))
	mux.Handle("GET /api/pairing", c.api(c.pairingStatus))
	mux.Handle("POST /devices/approve", c.action(c.approveDevice))
	mux.Handle("GET /devices/revoke", c.page(c.revokePage))
	mux.Handle("POST /devices/revoke", c.action(c.revokeDevice))
	mux.Handle("GET /reshares", c.page(c.resharesPage))
	mux.Handle("GET /api/reshares", c.api(c.reshareStatus))

	mux.Handle("GET /keys", c.page(c.keysPage))
	mux.Handle("POST /keys/drill", c.action(c.drillKey))
	mux.Handle("GET /api/drill", c.api(c.drillStatus))

	mux.Handle("GET /roster", c.page(c.rosterPage))
	mux.Handle("GET /requesters", c.page(c.requestersPage))

	mux.Handle("GET /audit", c.page(c.auditPage))
	mux.Handle("GET /audit/export", c.page(c.auditExport))
	mux.Handle("GET /sessions", c.page(c.sessionsPage))
	return securityHeaders(mux)
}

// Serve serves the console over TLS on lis until ctx ends.
func (c *Console) Serve(ctx context.Context, lis net.Listener) error {
	srv := &http.Server{
		Handler: c.handler,
		TLSConfig: &tls.Config{
			GetCertificate: c.opts.GetCertificate,
			MinVersion:     tls.VersionTLS13,
		},
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       15 * time.Second,
		WriteTimeout:      time.Minute,
		IdleTimeout:       2 * time.Minute,
		MaxHeaderBytes:    32 << 10,
		ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
	}
	return httpserve.Run(ctx, srv, func() error { return srv.ServeTLS(lis, "", "") })
}
