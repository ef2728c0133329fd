//go:build linux

// Package pgtest runs a throwaway PostgreSQL server for tests: initdb into a
// temporary directory, postgres listening only on a unix socket there (as
// the unprivileged postgres user when the tests run as root: PostgreSQL
// refuses root), one fresh database per caller. It needs Debian's
// postgresql package. Tests only: nothing in a product binary imports it.
package pgtest

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/jackc/pgx/v5"
)

// Server is a throwaway PostgreSQL server: its data directory and unix
// socket are in a temporary directory, it listens on no TCP port, and it runs
// as the postgres user when the tests run as root.
type Server struct {
	bin  string // the directory of initdb, pg_ctl and postgres
	dir  string // temporary: data/, the socket, postgres.log
	cred *syscall.Credential
	cmd  *exec.Cmd
	done chan struct{} // closed when postgres exited
	dbs  atomic.Int64
}

// InstallHint says what to install when the server cannot start.
const InstallHint = "install Debian's postgresql package (apt-get install postgresql): " +
	"the tests of the PostgreSQL store run a PostgreSQL server of their own"

// findBin finds the directory of PostgreSQL's server binaries: on PATH, or
// where Debian's package puts them.
func findBin() (string, error) {
	var dirs []string
	if p, err := exec.LookPath("initdb"); err == nil {
		if real, err := filepath.EvalSymlinks(p); err == nil {
			dirs = append(dirs, filepath.Dir(real))
		}
		dirs = append(dirs, filepath.Dir(p))
	}
	dirs = append(dirs, "/usr/lib/postgresql/15/bin")
	more, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	dirs = append(dirs, more...)
	for _, d := range dirs {
		ok := true
		for _, name := range []string{"initdb", "pg_ctl", "postgres"} {
			if fi, err := os.Stat(filepath.Join(d, name)); err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
				ok = false
			}
		}
		if ok {
			return d, nil
		}
	}
	return "", errors.New("PostgreSQL's initdb, pg_ctl and postgres are neither on PATH nor in /usr/lib/postgresql/*/bin: " + InstallHint)
}

// Start initialises a data directory and starts postgres on it; Stop stops
// it. It fails, saying what to install, where PostgreSQL is missing.
func Start() (_ *Server, err error) {
	bin, err := findBin()
	if err != nil {
		return nil, err
	}
	s := &Server{bin: bin, done: make(chan struct{})}
	base := "" // os.TempDir()
	if os.Geteuid() == 0 {
		u, err := user.Lookup("postgres")
		if err != nil {
			return nil, fmt.Errorf("the tests run as root, and PostgreSQL refuses to: they run it as the postgres user, which is missing (%v): %s", err, InstallHint)
		}
		uid, _ := strconv.ParseUint(u.Uid, 10, 32)
		gid, _ := strconv.ParseUint(u.Gid, 10, 32)
		s.cred = &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
		base = "/tmp" // every directory above must be open to the postgres user
	}
	// A short path: the socket's must fit in 107 bytes.
	if s.dir, err = os.MkdirTemp(base, "mpcsign-pg-"); err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			s.Stop()
		}
	}()
	if s.cred != nil {
		if err := os.Chown(s.dir, int(s.cred.Uid), int(s.cred.Gid)); err != nil {
			return nil, err
		}
	}
	data := filepath.Join(s.dir, "data")
	initdb := s.command("initdb", "-D", data, "-U", "postgres", "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync")
	if out, err := initdb.CombinedOutput(); err != nil {
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	if err := s.Up(); err != nil {
		return nil, err
	}
	return s, nil
}

// Restart stops postgres (pg_ctl stop -m fast) and starts it again on the
// same data directory: clients see their connections fail, then succeed.
func (s *Server) Restart() error {
	s.Down()
	return s.Up()
}

// Up starts postgres on the data directory and waits until it answers.
func (s *Server) Up() error {
	data := filepath.Join(s.dir, "data")
	s.done = make(chan struct{})
	logf, err := os.OpenFile(filepath.Join(s.dir, "postgres.log"), os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.cmd = s.command("postgres", "-D", data, "-k", s.dir, "-c", "listen_addresses=",
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off",
		"-c", "shared_buffers=32MB", "-c", "max_connections=100")
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// Should the test binary die without stopping it (a test timeout),
	// postgres shuts down (fast) by itself.
	s.cmd.SysProcAttr.Pdeathsig = syscall.SIGINT
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("start postgres: %w", err)
	}
	done := s.done
	go func() { s.cmd.Wait(); close(done) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		conn, err := pgx.Connect(ctx, s.DSN("postgres"))
		cancel()
		if err == nil {
			conn.Close(context.Background())
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("postgres exited: %v\n%s", s.cmd.ProcessState, s.LogTail())
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("postgres did not answer within a minute: %v\n%s", err, s.LogTail())
		}
	}
}

// command runs a PostgreSQL binary as the postgres user (when root).
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := exec.Command(filepath.Join(s.bin, name), args...)
	cmd.Dir = s.dir
	cmd.Env = append(os.Environ(), "LC_ALL=C", "LANG=C")
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: s.cred}
	return cmd
}

// DSN is the keyword/value connection string of database db.
func (s *Server) DSN(db string) string {
	return fmt.Sprintf("host=%s user=postgres dbname=%s sslmode=disable", s.dir, db)
}

// URL is the postgres:// URL of database db (the form the coordinator's
// --store takes).
func (s *Server) URL(db string) string {
	return fmt.Sprintf("postgres://postgres@/%s?host=%s&sslmode=disable", db, url.QueryEscape(s.dir))
}

// CreateDB creates a fresh, empty database with a new name and returns that
// name.
func (s *Server) CreateDB() (string, error) {
	name := fmt.Sprintf("db_%d", s.dbs.Add(1))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, s.DSN("postgres"))
	if err != nil {
		return "", err
	}
	defer conn.Close(context.Background())
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name); err != nil {
		return "", err
	}
	return name, nil
}

// LogTail is the end of the server's log, for a failure's message.
func (s *Server) LogTail() string {
	b, _ := os.ReadFile(filepath.Join(s.dir, "postgres.log"))
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// Stop stops postgres (pg_ctl stop -m fast), waits for it to exit and
// removes its directory.
func (s *Server) Stop() {
	s.Down()
	if s.dir != "" {
		os.RemoveAll(s.dir)
	}
}

// Down stops postgres (keeping its data) and waits for it to exit; Up
// starts it again.
func (s *Server) Down() {
	if s.cmd == nil || s.cmd.Process == nil {
		return
	}
	stop := s.command("pg_ctl", "stop", "-D", filepath.Join(s.dir, "data"), "-m", "fast", "-w", "-t", "30")
	if out, err := stop.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "pg_ctl stop: %v\n%s", err, strings.TrimSpace(string(out)))
	}
	select {
	case <-s.done:
	case <-time.After(30 * time.Second):
		fmt.Fprintln(os.Stderr, "postgres did not stop: killed")
		s.cmd.Process.Kill()
		<-s.done
	}
	s.cmd = nil
}
