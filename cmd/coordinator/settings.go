package main

import (
	"errors"
	"io"
	"net"
	"net/url"
	"strconv"
	"time"

	"github.com/spf13/pflag"

	"github.com/mpcsign/mpcsign/coordinator"
	"github.com/mpcsign/mpcsign/internal/config"
	"github.com/mpcsign/mpcsign/internal/logging"
)

// settings names the environment variables and config file of `serve`:
// --drain-timeout is MPCSIGN_COORDINATOR_DRAIN_TIMEOUT and drain_timeout.
var settings = config.Scheme{EnvPrefix: "MPCSIGN_COORDINATOR_", ConfigFlag: "config"}

// resolve fills the flags the command line left unset from the environment
// and the config file, then checks every value. It reports every problem,
// each naming where the value came from.
func (c *serveConfig) resolve(fs *pflag.FlagSet, environ []string) error {
	src, err := settings.Resolve(fs, environ)
	return errors.Join(err, c.validate(src))
}

// validate checks the resolved settings and reports every bad one.
func (c *serveConfig) validate(src *config.Sources) error {
	var errs []error
	bad := func(flag, format string, args ...any) {
		if !src.Refused(flag) { // already reported
			errs = append(errs, src.Errorf(flag, format, args...))
		}
	}
	if c.dataDir == "" {
		bad("data", "the data directory must not be empty")
	}
	if _, err := logging.New(io.Discard, c.logLevel, "text"); err != nil {
		bad("log-level", "%v", err)
	}
	if _, err := logging.New(io.Discard, "info", c.logFormat); err != nil {
		bad("log-format", "%v", err)
	}
	if err := checkStoreURL(c.store); err != nil {
		bad("store", "%v", err)
	}
	if c.leaseTTL < time.Second || c.leaseTTL > 5*time.Minute {
		bad("lease-ttl", "%s is not between 1s and 5m", c.leaseTTL)
	}
	if c.drainTimeout <= 0 {
		bad("drain-timeout", "%s is not a positive duration", c.drainTimeout)
	}
	switch r := c.retainSignResults; {
	case r < 0:
		bad("retain-sign-results", "%s is negative: give 0 to keep sign results forever, or at least %s", r, coordinator.MinRetainSignResults)
	case r > 0 && r < coordinator.MinRetainSignResults:
		bad("retain-sign-results", "%s is shorter than %s: a wallet retries a signature with its request id within a day, and a retry whose first result is gone is signed a second time; give at least %s, or 0 to keep them forever",
			r, coordinator.MinRetainSignResults, coordinator.MinRetainSignResults)
	}
	if c.retainSessions < 0 {
		bad("retain-sessions", "%s is negative: give 0 to keep session records forever, or how long to keep them (such as 2160h)", c.retainSessions)
	}
	if host, err := hostPort(c.listen); err != nil {
		bad("listen", "%q: %v", c.listen, err)
	} else if ip := net.ParseIP(host); (host == "" || ip != nil && ip.IsUnspecified()) && c.advertise == "" {
		bad("listen", "%s accepts connections on every address, so pairing codes need the address devices should dial: set advertise (--advertise, %s or advertise in the config file)",
			c.listen, settings.EnvName("advertise"))
	}
	if c.advertise != "" {
		if host, err := hostPort(c.advertise); err != nil {
			bad("advertise", "%q: %v", c.advertise, err)
		} else if host == "" {
			bad("advertise", "%q: devices need a host to dial", c.advertise)
		}
	}
	if c.metricsListen != "" {
		if _, err := hostPort(c.metricsListen); err != nil {
			bad("metrics-listen", "%q: %v", c.metricsListen, err)
		}
	}
	if c.consoleListen != "" {
		if _, err := hostPort(c.consoleListen); err != nil {
			bad("console-listen", "%q: %v", c.consoleListen, err)
		}
	}
	return errors.Join(errs...)
}

// retentionFlags declares the retention settings of `serve`.
func (c *serveConfig) retentionFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&c.retainSignResults, "retain-sign-results", coordinator.DefaultRetainSignResults,
		"how long a signature is kept for replays of its request id (at least 24h; 0: forever); a retry with a request id whose result is older is signed anew, a second signature")
	fs.DurationVar(&c.retainSessions, "retain-sessions", coordinator.DefaultRetainSessions,
		"how long session records (ListSessions, the console's Sessions page) are kept, from their start (0: forever)")
}

// forever is a retention setting as coordinator.Options takes it: 0, kept
// forever, is negative there (0 is the default).
func forever(d time.Duration) time.Duration {
	if d == 0 {
		return -1
	}
	return d
}

// hostPort splits a host:port address whose port is a number.
func hostPort(addr string) (string, error) {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return "", errors.New("not host:port")
	}
	if _, err := strconv.ParseUint(port, 10, 16); err != nil {
		return "", errors.New("the port is not a number from 0 to 65535")
	}
	return host, nil
}

// checkStoreURL checks --store: empty (BadgerDB in --data) or a postgres://
// URL that holds no password (a secret is never a setting's value).
func checkStoreURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("want empty (BadgerDB in --data) or a postgres:// URL, e.g. postgres://mpcsign@db.internal/mpcsign?sslmode=verify-full")
	}
	if _, ok := u.User.Password(); ok || u.Query().Has("password") {
		return errors.New("the URL holds a password: give it in the PGPASSWORD environment variable or a password file (PGPASSFILE), never in a setting")
	}
	return nil
}
