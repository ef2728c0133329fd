package party

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// StatusSocket is the name of the agent's local status socket in its data
// directory. A client connects and reads one JSON Status; it sends nothing.
const StatusSocket = "party.sock"

// ErrAgentNotRunning reports that no agent answers on the status socket.
var ErrAgentNotRunning = errors.New("party: no agent is running for this data directory")

// maxStatusSize bounds what a status client reads.
const maxStatusSize = 4 << 20

// ListenStatus opens the status socket in dataDir with mode 0600. Call it
// with the keystore open: its lock guarantees that no other agent serves
// this directory, so a socket file left by a crashed agent can be removed.
func ListenStatus(dataDir string) (net.Listener, error) {
	path := filepath.Join(dataDir, StatusSocket)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	// Bound under a temporary name and renamed once it is 0600, so that the
	// socket is never reachable with a wider mode.
	tmp := path + ".tmp"
	_ = os.Remove(tmp)
	lis, err := net.ListenUnix("unix", &net.UnixAddr{Name: tmp, Net: "unix"})
	if err != nil {
		return nil, err
	}
	lis.SetUnlinkOnClose(false)
	if err = os.Chmod(tmp, 0o600); err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		lis.Close()
		os.Remove(tmp)
		return nil, err
	}
	return &statusListener{UnixListener: lis, path: path}, nil
}

// statusListener removes the socket file when it closes.
type statusListener struct {
	*net.UnixListener
	path string
}

func (l *statusListener) Close() error {
	err := l.UnixListener.Close()
	os.Remove(l.path)
	return err
}

// ServeStatus answers every connection on lis with the agent's Status
// until ctx ends, then closes lis.
func (a *Agent) ServeStatus(ctx context.Context, lis net.Listener) {
	go func() {
		<-ctx.Done()
		lis.Close()
	}()
	for {
		c, err := lis.Accept()
		if err != nil {
			if ctx.Err() == nil {
				a.log.Warn("status socket stopped", "err", err)
			}
			lis.Close() // again: its socket file is gone when this returns
			return
		}
		go a.answerStatus(c)
	}
}

func (a *Agent) answerStatus(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(5 * time.Second))
	st, err := a.Status()
	var out any = st
	if err != nil {
		a.log.Warn("could not read the status for the status socket", "err", err)
		out = map[string]string{"error": "the agent could not read its keystore; see its log"}
	}
	if err := json.NewEncoder(c).Encode(out); err != nil {
		a.log.Debug("status client went away", "err", err)
	}
}

// QueryStatus asks the agent running for dataDir for its Status. It returns
// ErrAgentNotRunning when nothing listens there.
func QueryStatus(ctx context.Context, dataDir string) (Status, error) {
	path := filepath.Join(dataDir, StatusSocket)
	d := net.Dialer{Timeout: 2 * time.Second}
	c, err := d.DialContext(ctx, "unix", path)
	if errors.Is(err, os.ErrNotExist) || errors.Is(err, syscall.ECONNREFUSED) {
		return Status{}, ErrAgentNotRunning
	}
	if err != nil {
		return Status{}, fmt.Errorf("party: status socket %s: %w", path, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(io.LimitReader(c, maxStatusSize))
	if err != nil {
		return Status{}, fmt.Errorf("party: status socket %s: %w", path, err)
	}
	var probe struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(b, &probe) == nil && probe.Error != "" {
		return Status{}, fmt.Errorf("party: the running agent says: %s", probe.Error)
	}
	var st Status
	if err := json.Unmarshal(b, &st); err != nil {
		return Status{}, fmt.Errorf("party: status socket %s sent something unreadable: %w", path, err)
	}
	return st, nil
}
