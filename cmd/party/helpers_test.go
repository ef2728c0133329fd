package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/internal/backup"
	"github.com/mpcsign/mpcsign/testkit"
)

// runParty runs the party command line with stdin and returns its standard
// output and error output.
func runParty(t *testing.T, stdin io.Reader, out *bytes.Buffer, args ...string) (string, error) {
	t.Helper()
	if out == nil {
		out = new(bytes.Buffer)
	}
	var errOut bytes.Buffer
	cmd := newRootCmd(nil, runAgent)
	cmd.SetArgs(args)
	cmd.SetIn(stdin)
	cmd.SetOut(out)
	cmd.SetErr(&errOut)
	err := cmd.ExecuteContext(context.Background())
	return errOut.String(), err
}

var (
	shownWord = regexp.MustCompile(`(\d+)\. ([a-z]+)`)
	askedLine = regexp.MustCompile(`enter words ([0-9, and]+) from`)
	number    = regexp.MustCompile(`\d+`)
)

// shownWords reads the 24 words from the output of an export.
func shownWords(t *testing.T, out string) []string {
	t.Helper()
	var words []string
	for i, m := range shownWord.FindAllStringSubmatch(out, -1) {
		if m[1] != strconv.Itoa(i+1) {
			t.Fatalf("word %d is numbered %s:\n%s", i+1, m[1], out)
		}
		words = append(words, m[2])
	}
	if len(words) != backup.WordCount {
		t.Fatalf("export showed %d words:\n%s", len(words), out)
	}
	return words
}

// answerer is the person at an export: each time the command wants input,
// it reads the words and the asked positions from the output so far and
// answers one attempt of the challenge.
type answerer struct {
	out      *bytes.Buffer
	answer   func(attempt int, words []string, pos []int) []string
	attempts int
	pending  []byte
}

func (a *answerer) Read(p []byte) (int, error) {
	if len(a.pending) == 0 {
		m := askedLine.FindAllStringSubmatch(a.out.String(), -1)
		if len(m) == 0 || a.attempts >= 10 {
			return 0, io.EOF
		}
		var pos []int
		for _, s := range number.FindAllString(m[len(m)-1][1], -1) {
			n, _ := strconv.Atoi(s)
			pos = append(pos, n)
		}
		words := shownWordsNoFail(a.out.String())
		a.attempts++
		a.pending = []byte(strings.Join(a.answer(a.attempts, words, pos), "\n") + "\n")
	}
	n := copy(p, a.pending)
	a.pending = a.pending[n:]
	return n, nil
}

func shownWordsNoFail(out string) []string {
	var words []string
	for _, m := range shownWord.FindAllStringSubmatch(out, -1) {
		words = append(words, m[2])
	}
	return words
}

func rightAnswers(_ int, words []string, pos []int) []string {
	var a []string
	for _, p := range pos {
		a = append(a, words[p-1])
	}
	return a
}

func wrongAnswers(_ int, words []string, pos []int) []string {
	var a []string
	for _, p := range pos {
		a = append(a, otherWord(words[p-1]))
	}
	return a
}

// otherWord is a BIP39 word other than w.
func otherWord(w string) string {
	if w == "abandon" {
		return "zoo"
	}
	return "abandon"
}

// backupEnv is a coordinator with five enrolled, stopped devices: "a" and
// "b" hold a key; "rt", "twice" and "spare" hold nothing. Each device's data
// dir is free for the command line.
type backupEnv struct {
	keyID   string
	epoch   uint64
	dirs    map[string]string
	ids     map[string]string
	passes  map[string]string
	workDir string
}

func newBackupEnv(t *testing.T) *backupEnv {
	t.Helper()
	c := testkit.New(t, testkit.Options{AutoApprove: true})
	e := &backupEnv{dirs: map[string]string{}, ids: map[string]string{}, passes: map[string]string{}, workDir: t.TempDir()}
	devices := map[string]*testkit.Device{
		"a": c.AddDevice(t, "a", testkit.FixtureSets(t, 1)[:1]),
		"b": c.AddDevice(t, "b", testkit.FixtureSets(t, 2)[:1]),
	}
	for _, n := range []string{"rt", "twice", "spare"} {
		devices[n] = c.AddDevice(t, n, nil)
	}
	key := c.CreateKey(t, 1, "a", "b")
	e.keyID, e.epoch = key.GetId(), key.GetEpoch()
	for name, d := range devices {
		e.ids[name] = d.Agent.Config().DeviceID
		c.StopDevice(t, name)
		if err := d.Store.Close(); err != nil {
			t.Fatal(err)
		}
		e.dirs[name] = d.Dir
		e.passes[name] = filepath.Join(e.workDir, name+".pass")
		if err := os.WriteFile(e.passes[name], []byte("test passphrase "+name+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return e
}

func (e *backupEnv) store(name string) []string {
	return []string{"--data", e.dirs[name], "--passphrase-file", e.passes[name], "--log-level", "debug"}
}

// export runs 'party backup export' of the key on "a" and returns the
// output and the error output.
func (e *backupEnv) export(t *testing.T, out string, answer func(int, []string, []int) []string, extra ...string) (string, string, error) {
	t.Helper()
	var stdout bytes.Buffer
	in := &answerer{out: &stdout, answer: answer}
	args := append([]string{"backup", "export", "--key", e.keyID, "--out", out}, e.store("a")...)
	stderr, err := runParty(t, in, &stdout, append(args, extra...)...)
	return stdout.String(), stderr, err
}

// restore runs 'party backup restore' on a device with the words on stdin.
func (e *backupEnv) restore(t *testing.T, device, file string, stdin string, extra ...string) (string, error) {
	t.Helper()
	var stdout bytes.Buffer
	args := append([]string{"backup", "restore", "--file", file}, e.store(device)...)
	stderr, err := runParty(t, strings.NewReader(stdin), &stdout, append(args, extra...)...)
	if strings.Contains(stderr, "panic") {
		t.Fatalf("stderr: %s", stderr)
	}
	return stdout.String(), err
}

type statusShare struct {
	KeyID string `json:"key_id"`
	Epoch uint64 `json:"epoch"`
	State string `json:"state"`
}

func (e *backupEnv) shares(t *testing.T, device string) []statusShare {
	t.Helper()
	var stdout bytes.Buffer
	if _, err := runParty(t, strings.NewReader(""), &stdout, append([]string{"status", "--json"}, e.store(device)...)...); err != nil {
		t.Fatalf("status of %s: %v", device, err)
	}
	var st struct {
		Shares []statusShare `json:"shares"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &st); err != nil {
		t.Fatalf("status: %v\n%s", err, stdout.String())
	}
	return st.Shares
}

func wordsError(t *testing.T, err error) *backup.WordsError {
	t.Helper()
	var we *backup.WordsError
	if !errors.As(err, &we) {
		t.Fatalf("want a *backup.WordsError, got %v", err)
	}
	return we
}
