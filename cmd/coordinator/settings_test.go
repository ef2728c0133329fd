package main

import (
	"bytes"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/mpcsign/mpcsign/internal/config"
)

// runRoot runs the root command with args and environ, stopping at the
// point where the server would start, and returns the settings it would
// have started with.
func runRoot(t *testing.T, environ []string, args ...string) (serveConfig, string, error) {
	t.Helper()
	var got serveConfig
	ran := false
	root := newRootCmd(environ, func(_ *cobra.Command, cfg serveConfig) error {
		got, ran = cfg, true
		return nil
	})
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	if err == nil && !ran && !slices.Contains(args, "--help") {
		t.Fatal("the command neither failed nor ran the server")
	}
	return got, out.String(), err
}

func writeConfig(t *testing.T, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "coordinator.toml")
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestServeSettings(t *testing.T) {
	t.Parallel()
	path := writeConfig(t, `# test
data = "/srv/mpc"
listen = "0.0.0.0:7400"
advertise = "coord.example:7400"
drain_timeout = "45s"
auto_approve = true
log_format = "json"
log_level = "warn"
metrics_listen = "127.0.0.1:9464"
retain_sign_results = "48h"
retain_sessions = "8760h"
`)
	// flag > environment > file > default
	cfg, _, err := runRoot(t,
		[]string{"MPCSIGN_COORDINATOR_LOG_LEVEL=debug", "MPCSIGN_COORDINATOR_LISTEN=127.0.0.1:7500", "HOME=/x", "MPCSIGN_COORDINATOR_RETAIN_SESSIONS=0s"},
		"serve", "--config", path, "--listen", "127.0.0.1:7600", "--auto-approve=false")
	if err != nil {
		t.Fatal(err)
	}
	want := serveConfig{
		configFile:    path,
		dataDir:       "/srv/mpc",
		listen:        "127.0.0.1:7600", // flag over environment and file
		advertise:     "coord.example:7400",
		metricsListen: "127.0.0.1:9464",
		logLevel:      "debug", // environment over file
		logFormat:     "json",
		autoApprove:   false, // flag over file
		drainTimeout:  45 * time.Second,
		leaseTTL:      5 * time.Second, // the default
		// From the file; 0 (forever) from the environment.
		retainSignResults: 48 * time.Hour,
		retainSessions:    0,
	}
	if cfg != want {
		t.Fatalf("got  %+v\nwant %+v", cfg, want)
	}

	// The config file named by the environment; defaults for what it lacks.
	path = writeConfig(t, "listen = \"127.0.0.1:0\"\n")
	cfg, _, err = runRoot(t, []string{"MPCSIGN_COORDINATOR_CONFIG=" + path}, "serve")
	if err != nil {
		t.Fatal(err)
	}
	if cfg.configFile != path || cfg.listen != "127.0.0.1:0" || cfg.drainTimeout != 30*time.Second || cfg.logLevel != "info" || cfg.logFormat != "text" ||
		cfg.retainSignResults != 720*time.Hour || cfg.retainSessions != 2160*time.Hour {
		t.Fatalf("got %+v", cfg)
	}
}

func TestServeSettingsErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		file string
		env  []string
		args []string
		want []string // the error's lines; FILE is the config file
	}{
		{
			name: "bad values name the field and the source",
			file: "listen = \"127.0.0.1:7400\"\n\ndrain_timeout = \"abc\"\nlog_level = \"loud\"\nlistn = \"x\"\n",
			env:  []string{"MPCSIGN_COORDINATOR_LOG_FORMAT=xml"},
			want: []string{
				`config file FILE line 3: drain_timeout: "abc" is not a duration (such as 30s or 1m30s)`,
				`config file FILE line 5: unknown key "listn" (known keys: advertise, auto_approve, console_listen, data, drain_timeout, lease_ttl, listen, log_format, log_level, metrics_listen, retain_sessions, retain_sign_results, store)`,
				`config file FILE line 4: log_level: unknown log level "loud" (debug, info, warn, error)`,
				`environment MPCSIGN_COORDINATOR_LOG_FORMAT: unknown log format "xml" (text, json)`,
			},
		},
		{
			name: "every address needs advertise",
			file: "listen = \"0.0.0.0:7400\"\n",
			want: []string{`config file FILE line 1: listen: 0.0.0.0:7400 accepts connections on every address, so pairing codes need the address devices should dial: set advertise (--advertise, MPCSIGN_COORDINATOR_ADVERTISE or advertise in the config file)`},
		},
		{
			name: "addresses and durations",
			env:  []string{"MPCSIGN_COORDINATOR_DRAIN_TIMEOUT=0s", "MPCSIGN_COORDINATOR_METRICS_LISTEN=localhost", "MPCSIGN_COORDINATOR_CONSOLE_LISTEN=8443"},
			args: []string{"--listen", "127.0.0.1:http", "--advertise", ":7400"},
			want: []string{
				`environment MPCSIGN_COORDINATOR_DRAIN_TIMEOUT: 0s is not a positive duration`,
				`--listen: "127.0.0.1:http": the port is not a number from 0 to 65535`,
				`--advertise: ":7400": devices need a host to dial`,
				`environment MPCSIGN_COORDINATOR_METRICS_LISTEN: "localhost": not host:port`,
				`environment MPCSIGN_COORDINATOR_CONSOLE_LISTEN: "8443": not host:port`,
			},
		},
		{
			name: "retention",
			file: "retain_sign_results = \"12h\"\nretain_sessions = \"-1h\"\n",
			want: []string{
				`config file FILE line 1: retain_sign_results: 12h0m0s is shorter than 24h0m0s: a wallet retries a signature with its request id within a day, and a retry whose first result is gone is signed a second time; give at least 24h0m0s, or 0 to keep them forever`,
				`config file FILE line 2: retain_sessions: -1h0m0s is negative: give 0 to keep session records forever, or how long to keep them (such as 2160h)`,
			},
		},
		{
			name: "negative sign results retention",
			args: []string{"--retain-sign-results", "-24h"},
			want: []string{`--retain-sign-results: -24h0m0s is negative: give 0 to keep sign results forever, or at least 24h0m0s`},
		},
		{
			name: "unknown environment variable",
			env:  []string{"MPCSIGN_COORDINATOR_TOKEN=abc"},
			want: []string{`environment MPCSIGN_COORDINATOR_TOKEN: no such setting (known: MPCSIGN_COORDINATOR_ADVERTISE, MPCSIGN_COORDINATOR_AUTO_APPROVE, MPCSIGN_COORDINATOR_CONFIG, MPCSIGN_COORDINATOR_CONSOLE_LISTEN, MPCSIGN_COORDINATOR_DATA, MPCSIGN_COORDINATOR_DRAIN_TIMEOUT, MPCSIGN_COORDINATOR_LEASE_TTL, MPCSIGN_COORDINATOR_LISTEN, MPCSIGN_COORDINATOR_LOG_FORMAT, MPCSIGN_COORDINATOR_LOG_LEVEL, MPCSIGN_COORDINATOR_METRICS_LISTEN, MPCSIGN_COORDINATOR_RETAIN_SESSIONS, MPCSIGN_COORDINATOR_RETAIN_SIGN_RESULTS, MPCSIGN_COORDINATOR_STORE)`},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			args := append([]string{"serve"}, tc.args...)
			var path string
			if tc.file != "" {
				path = writeConfig(t, tc.file)
				args = append(args, "--config", path)
			}
			_, _, err := runRoot(t, tc.env, args...)
			if err == nil {
				t.Fatal("no error")
			}
			want := strings.ReplaceAll(strings.Join(tc.want, "\n"), "FILE", path)
			if err.Error() != want {
				t.Fatalf("error:\n%v\nwant:\n%s", err, want)
			}
			if _, ok := errors.AsType[*config.Error](err); !ok {
				t.Errorf("no *config.Error in %v", err)
			}
		})
	}
}

func TestServeHelp(t *testing.T) {
	t.Parallel()
	_, out, err := runRoot(t, nil, "serve", "--help")
	if err != nil {
		t.Fatal(err)
	}
	words := strings.Join(strings.Fields(out), " ")
	for _, want := range []string{
		"--config FILE or MPCSIGN_COORDINATOR_CONFIG",
		"its flag, its environment variable, the config file",
		"strict subset of TOML",
		"No secret is ever taken from a flag, the environment or the config file",
	} {
		if !strings.Contains(words, want) {
			t.Errorf("serve --help lacks %q:\n%s", want, out)
		}
	}
	// Every flag is listed with its variable and key.
	serve, _, err := newRootCmd(nil, nil).Find([]string{"serve"})
	if err != nil {
		t.Fatal(err)
	}
	serve.Flags().VisitAll(func(f *pflag.Flag) {
		key := settings.Key(f.Name)
		if f.Name == "config" {
			key = "-"
		}
		line := regexp.MustCompile(`--` + regexp.QuoteMeta(f.Name) + `\s+` + settings.EnvName(f.Name) + `\s+` + regexp.QuoteMeta(key) + `\n`)
		if !line.MatchString(out) {
			t.Errorf("serve --help lacks the row of --%s", f.Name)
		}
	})
}

// Secrets come from files or the environment, never from flags: no flag of
// any command may carry one, and so neither may the environment variables
// and config file keys derived from the flags.
func TestNoSecretFlags(t *testing.T) {
	t.Parallel()
	secret := regexp.MustCompile(`(?i)token|secret|pass|key|password|credential`)
	var walk func(*cobra.Command)
	walk = func(c *cobra.Command) {
		c.Flags().VisitAll(func(f *pflag.Flag) {
			if secret.MatchString(f.Name) && !strings.HasSuffix(f.Name, "-file") && !strings.HasSuffix(f.Name, "-dir") {
				t.Errorf("%s --%s looks like a secret given as a flag value: take a file instead", c.CommandPath(), f.Name)
			}
		})
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(nil, nil))
}

// The example in deploy/ stays valid.
func TestDeployExample(t *testing.T) {
	t.Parallel()
	path := filepath.Join("..", "..", "deploy", "coordinator.toml")
	cfg, _, err := runRoot(t, nil, "serve", "--config", path, "--data", t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	if cfg.advertise == "" || cfg.listen != "0.0.0.0:7400" || cfg.drainTimeout != 20*time.Second || cfg.autoApprove {
		t.Fatalf("got %+v", cfg)
	}
}

func TestStoreURL(t *testing.T) {
	for _, tt := range []struct {
		url  string
		want string // "" for accepted, else part of the error
	}{
		{"", ""},
		{"postgres://mpcsign@db.internal/mpcsign?sslmode=verify-full", ""},
		{"postgresql://db.internal:5433/mpcsign", ""},
		{"postgres://mpcsign:hunter2@db.internal/mpcsign", "PGPASSWORD"},
		{"postgres://db.internal/mpcsign?password=hunter2", "PGPASSWORD"},
		{"mysql://db.internal/mpcsign", "postgres:// URL"},
		{"host=/tmp dbname=x", "postgres:// URL"},
	} {
		err := checkStoreURL(tt.url)
		switch {
		case tt.want == "" && err != nil:
			t.Errorf("%q refused: %v", tt.url, err)
		case tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)):
			t.Errorf("%q: err %v, want one saying %q", tt.url, err, tt.want)
		case err != nil && strings.Contains(err.Error(), "hunter2"):
			t.Errorf("%q: the error repeats the password: %v", tt.url, err)
		}
	}
}

// A retention of 0 (forever) reaches the coordinator as a negative one
// (its 0 is the default); others as they are.
func TestRetentionOptions(t *testing.T) {
	cfg, _, err := runRoot(t, []string{"MPCSIGN_COORDINATOR_RETAIN_SIGN_RESULTS=0"}, "serve", "--retain-sessions", "48h")
	if err != nil {
		t.Fatal(err)
	}
	opts, _ := serveOptions(cfg, slog.New(slog.DiscardHandler))
	if opts.RetainSignResults >= 0 || opts.RetainSessions != 48*time.Hour {
		t.Fatalf("retention options: sign results %v, sessions %v", opts.RetainSignResults, opts.RetainSessions)
	}
	cfg, _, err = runRoot(t, nil, "serve")
	if err != nil {
		t.Fatal(err)
	}
	if opts, _ := serveOptions(cfg, slog.New(slog.DiscardHandler)); opts.RetainSignResults != 30*24*time.Hour || opts.RetainSessions != 90*24*time.Hour {
		t.Fatalf("default retention options: sign results %v, sessions %v", opts.RetainSignResults, opts.RetainSessions)
	}
}
