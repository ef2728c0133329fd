package coordinator_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"slices"
	"sync"
	"testing"

	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
	"github.com/mpcsign/mpcsign/testkit"
)

// logBuffer collects the JSON log lines of a whole cluster.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// lines parses every line written so far; a line that is not JSON fails.
func (b *logBuffer) lines(t *testing.T) []map[string]interface{} {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]interface{}
	sc := bufio.NewScanner(bytes.NewReader(b.buf.Bytes()))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]interface{}
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line is not JSON: %v: %s", err, sc.Text())
		}
		out = append(out, m)
	}
	return out
}

// sessionSteps are the messages of the lines that belong to one session,
// by who logs them; each must carry the session's id. The count is how
// many a keygen, a signature and a reshare (with its test signature)
// produce per process.
var sessionSteps = map[string]map[string]int{
	"coordinator": {"session started": 4, "session finished": 4, "key created": 1, "signed": 1, "reshare committed": 1},
	"device": {"session accepted": 4, "session finished": 4, "took pre-parameter set from pool": 2,
		"key share stored": 1, "new key share stored, pending the commit": 1, "request decided": 2},
}

// perRoundMsgs are the per-round lines, logged only at Debug.
var perRoundMsgs = map[string]bool{"round done": true, "round started": true}

// runLoggedSessions runs a keygen, one signature and a reshare of the key
// to the same two devices on a cluster logging JSON at level, and returns
// the lines.
func runLoggedSessions(t *testing.T, level slog.Level) []map[string]interface{} {
	var buf logBuffer
	log := slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level}))
	c := testkit.New(t, testkit.Options{Logger: log})
	c.AddDevice(t, "a", testkit.FixtureSets(t, 1)[:2])
	c.AddDevice(t, "b", testkit.FixtureSets(t, 2)[:2])
	key := c.CreateKey(t, 1, "a", "b")
	if _, err := c.Signer.Sign(context.Background(), &mpcv1.SignRequest{KeyId: key.GetId(), Digest: digest("log test")}); err != nil {
		t.Fatalf("sign: %v", err)
	}
	if _, err := c.Admin.ReshareKey(context.Background(), &mpcv1.ReshareKeyRequest{KeyId: key.GetId(), Devices: []string{"a", "b"}, Threshold: u32(1)}); err != nil {
		t.Fatalf("reshare: %v", err)
	}
	// Each party logs its end before it reports it: every line is in.
	return buf.lines(t)
}

func str(m map[string]interface{}, k string) string {
	s, _ := m[k].(string)
	return s
}

func role(line map[string]interface{}) string {
	if str(line, "proc") == "coordinator" {
		return "coordinator"
	}
	return "device"
}

func TestLogSessionLinesCarryTheSessionID(t *testing.T) {
	lines := runLoggedSessions(t, slog.LevelInfo)
	seen := map[string]map[string]int{} // proc -> msg -> count
	started := map[string][]string{}    // kind -> session ids, from the coordinator
	for _, l := range lines {
		msg, proc := str(l, "msg"), str(l, "proc")
		if perRoundMsgs[msg] || l["round"] != nil {
			t.Errorf("per-round line at Info: %v", l)
		}
		if _, ok := sessionSteps[role(l)][msg]; !ok {
			continue
		}
		if seen[proc] == nil {
			seen[proc] = map[string]int{}
		}
		seen[proc][msg]++
		id := str(l, "session")
		if len(id) != 16 {
			t.Errorf("session line without the session id: %v", l)
			continue
		}
		if proc == "coordinator" && msg == "session started" {
			started[str(l, "kind")] = append(started[str(l, "kind")], id)
		}
	}
	for _, proc := range []string{"coordinator", "a", "b"} {
		for msg, n := range sessionSteps[role(map[string]interface{}{"proc": proc})] {
			if seen[proc][msg] != n {
				t.Errorf("%s logged %q %d times, want %d", proc, msg, seen[proc][msg], n)
			}
		}
	}
	// One keygen, one reshare, two signatures (the caller's, then the
	// reshare's test signature), in that order.
	if len(started["keygen"]) != 1 || len(started["reshare"]) != 1 || len(started["sign"]) != 2 {
		t.Fatalf("coordinator session ids by kind: %v", started)
	}
	// The ids name the same session in every process.
	want := map[string]string{
		"key created": started["keygen"][0], "signed": started["sign"][0], "reshare committed": started["reshare"][0],
		"key share stored": started["keygen"][0], "new key share stored, pending the commit": started["reshare"][0],
	}
	for _, l := range lines {
		msg, got := str(l, "msg"), str(l, "session")
		if msg == "session finished" || msg == "session accepted" {
			if k := str(l, "kind"); !slices.Contains(started[k], got) {
				t.Errorf("%s %q of a %s session names session %s, the coordinator's are %v", str(l, "proc"), msg, k, got, started[k])
			}
		}
		if id, ok := want[msg]; ok && got != id {
			t.Errorf("%s %q names session %s, want %s", str(l, "proc"), msg, got, id)
		}
	}
}

func TestLogRoundsAtDebug(t *testing.T) {
	lines := runLoggedSessions(t, slog.LevelDebug)
	// kind -> proc -> rounds logged
	rounds := map[string]map[string]int{}
	for _, l := range lines {
		if !perRoundMsgs[str(l, "msg")] {
			continue
		}
		if len(str(l, "session")) != 16 || l["round"] == nil {
			t.Errorf("round line without the session id or round: %v", l)
		}
		k := str(l, "kind")
		if rounds[k] == nil {
			rounds[k] = map[string]int{}
		}
		rounds[k][str(l, "proc")]++
	}
	// tss-lib's ECDSA keygen sends messages in 3 rounds, its signing in 9
	// (two signatures here) and its resharing in 4; the coordinator logs
	// each round's end, a device each round it starts sending in.
	for kind, n := range map[string]int{"keygen": 3, "sign": 2 * 9, "reshare": 4} {
		for _, proc := range []string{"coordinator", "a", "b"} {
			if rounds[kind][proc] != n {
				t.Errorf("%s logged %d %s round lines, want %d (all: %v)", proc, rounds[kind][proc], kind, n, rounds)
			}
		}
	}
}
