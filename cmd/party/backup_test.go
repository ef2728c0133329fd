package main

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/mpcsign/mpcsign/internal/backup"
	"github.com/mpcsign/mpcsign/keystore"
	"github.com/mpcsign/mpcsign/party"
	"github.com/mpcsign/mpcsign/testkit"
)

func TestBackupExportRestore(t *testing.T) {
	e := newBackupEnv(t)
	file := filepath.Join(e.workDir, "a.backup")
	stdout, stderr, err := e.export(t, file, rightAnswers)
	if err != nil {
		t.Fatalf("export: %v\n%s", err, stdout)
	}
	words := shownWords(t, stdout)
	for _, want := range []string{e.keyID, "epoch       " + strconv.FormatUint(e.epoch, 10), e.ids["a"], "Wrote " + file, "the words and the file together are this share"} {
		if !strings.Contains(stdout, want) {
			t.Fatalf("export output lacks %q:\n%s", want, stdout)
		}
	}
	for _, w := range words {
		if strings.Contains(stderr, w) {
			t.Fatalf("the log holds recovery word %q:\n%s", w, stderr)
		}
	}
	st, err := os.Stat(file)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("backup file mode %v, want 0600", st.Mode().Perm())
	}
	raw, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if h, err := backup.ReadHeader(raw); err != nil || h.KeyID != e.keyID || h.DeviceID != e.ids["a"] {
		t.Fatalf("header %+v, %v", h, err)
	}
	line := strings.Join(words, " ")

	t.Run("round trip onto another device", func(t *testing.T) {
		// Several lines, shortened and upper-case words are accepted.
		in := strings.ToUpper(strings.Join(words[:12], " ")) + "\n" + strings.Join(words[12:], ", ") + "\n"
		out, err := e.restore(t, "rt", file, in)
		if err != nil {
			t.Fatalf("restore: %v\n%s", err, out)
		}
		for _, want := range []string{e.keyID, e.ids["a"], "created at", "start `party run`",
			"mpcctl devices approve rt --restore " + e.keyID, "mpcctl drill --key " + e.keyID} {
			if !strings.Contains(out, want) {
				t.Fatalf("restore output lacks %q:\n%s", want, out)
			}
		}
		got := e.shares(t, "rt")
		if len(got) != 1 || got[0] != (statusShare{KeyID: e.keyID, Epoch: e.epoch, State: string(party.ShareRestored)}) {
			t.Fatalf("status of rt: %+v", got)
		}
		if a := e.shares(t, "a"); len(a) != 1 || a[0].State != string(party.ShareCommitted) {
			t.Fatalf("the original device changed: %+v", a)
		}
	})

	t.Run("restoring twice is refused", func(t *testing.T) {
		wf := filepath.Join(t.TempDir(), "words")
		if err := os.WriteFile(wf, []byte(line+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if out, err := e.restore(t, "twice", file, "", "--words-file", wf); err != nil {
			t.Fatalf("first restore: %v\n%s", err, out)
		}
		_, err := e.restore(t, "twice", file, "", "--words-file", wf)
		if !errors.Is(err, party.ErrRestoreConflict) {
			t.Fatalf("second restore: want ErrRestoreConflict, got %v", err)
		}
		if got := e.shares(t, "twice"); len(got) != 1 || got[0].State != string(party.ShareRestored) {
			t.Fatalf("status of twice: %+v", got)
		}
	})

	t.Run("one wrong word is named", func(t *testing.T) {
		bad := slices.Clone(words)
		bad[4] = otherWord(bad[4])
		_, err := e.restore(t, "spare", file, strings.Join(bad, " ")+"\n")
		we := wordsError(t, err)
		if we.Problem != backup.WrongWord || !slices.Equal(we.Positions, []int{5}) || !strings.Contains(err.Error(), "word 5 ") {
			t.Fatalf("want word 5 named as wrong, got %v (%+v)", err, we)
		}
		if got := e.shares(t, "spare"); len(got) != 0 {
			t.Fatalf("a failed restore stored %+v", got)
		}
	})

	t.Run("two swapped words are named", func(t *testing.T) {
		i, j := 2, 8
		for words[i] == words[j] {
			j++
		}
		bad := slices.Clone(words)
		bad[i], bad[j] = bad[j], bad[i]
		_, err := e.restore(t, "spare", file, strings.Join(bad, " ")+"\n")
		we := wordsError(t, err)
		if we.Problem != backup.SwappedWords || !slices.Equal(we.Positions, []int{i + 1, j + 1}) {
			t.Fatalf("want words %d and %d named as swapped, got %v (%+v)", i+1, j+1, err, we)
		}
		if want := "words " + strconv.Itoa(i+1) + " and " + strconv.Itoa(j+1); !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	})

	t.Run("too few words", func(t *testing.T) {
		_, err := e.restore(t, "spare", file, strings.Join(words[:23], " ")+"\n")
		if we := wordsError(t, err); we.Problem != backup.WrongCount || we.Count != 23 {
			t.Fatalf("want a word count error, got %v", err)
		}
	})

	t.Run("a tampered file is refused", func(t *testing.T) {
		lines := strings.SplitAfter(string(raw), "\n")
		if len(lines) != 4 {
			t.Fatalf("backup file has %d lines", len(lines))
		}
		body := []byte(lines[2])
		body[10] ^= 'A' ^ 'B'
		if body[10] == '\n' || body[10] == lines[2][10] {
			t.Fatal("bad tamper")
		}
		epoch := func(n uint64) string { return `"epoch":` + strconv.FormatUint(n, 10) + "," }
		for name, b := range map[string]string{
			"content": lines[0] + lines[1] + string(body),
			"header":  lines[0] + strings.Replace(lines[1], epoch(e.epoch), epoch(e.epoch+1), 1) + lines[2],
		} {
			if b == string(raw) {
				t.Fatalf("%s: nothing changed", name)
			}
			f := filepath.Join(t.TempDir(), "tampered")
			if err := os.WriteFile(f, []byte(b), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := e.restore(t, "spare", f, line+"\n"); !errors.Is(err, backup.ErrTampered) {
				t.Fatalf("%s: want ErrTampered, got %v", name, err)
			}
		}
		if got := e.shares(t, "spare"); len(got) != 0 {
			t.Fatalf("a failed restore stored %+v", got)
		}
	})

	t.Run("not onto the device it was made on", func(t *testing.T) {
		_, err := e.restore(t, "a", file, line+"\n")
		if err == nil || !strings.Contains(err.Error(), "this very device") {
			t.Fatalf("restore onto a: %v", err)
		}
		if a := e.shares(t, "a"); len(a) != 1 || a[0].State != string(party.ShareCommitted) {
			t.Fatalf("the original device changed: %+v", a)
		}
	})

	t.Run("challenge failure writes no file", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "x.backup")
		stdout, _, err := e.export(t, out, wrongAnswers)
		if !errors.Is(err, backup.ErrChallengeFailed) || !strings.Contains(err.Error(), "nothing was written") {
			t.Fatalf("want a failed challenge, got %v", err)
		}
		if n := strings.Count(stdout, "do not match the words shown"); n != challengeAttempts {
			t.Fatalf("want %d tries, saw %d:\n%s", challengeAttempts, n, stdout)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a file was written: %v", err)
		}
	})

	t.Run("end of input writes no file", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "x.backup")
		_, err := runParty(t, strings.NewReader(""), nil, append([]string{"backup", "export", "--key", e.keyID, "--out", out}, e.store("a")...)...)
		if err == nil || !strings.Contains(err.Error(), "not confirmed") {
			t.Fatalf("want an unconfirmed export, got %v", err)
		}
		if _, err := os.Stat(out); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("a file was written: %v", err)
		}
	})

	t.Run("a retry after a wrong answer", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "x.backup")
		stdout, _, err := e.export(t, out, func(attempt int, w []string, p []int) []string {
			if attempt == 1 {
				return wrongAnswers(attempt, w, p)
			}
			return rightAnswers(attempt, w, p)
		})
		if err != nil || !strings.Contains(stdout, "2 tries left") {
			t.Fatalf("retry: %v\n%s", err, stdout)
		}
		if _, err := os.Stat(out); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("no overwrite without --force", func(t *testing.T) {
		out := filepath.Join(t.TempDir(), "x.backup")
		if err := os.WriteFile(out, []byte("keep"), 0o644); err != nil {
			t.Fatal(err)
		}
		stdout, _, err := e.export(t, out, rightAnswers)
		if err == nil || !strings.Contains(err.Error(), "--force") || strings.Contains(stdout, "1. ") {
			t.Fatalf("want a refusal before any word is shown, got %v\n%s", err, stdout)
		}
		if b, _ := os.ReadFile(out); string(b) != "keep" {
			t.Fatalf("the file was overwritten")
		}
		stdout, _, err = e.export(t, out, rightAnswers, "--force")
		if err != nil {
			t.Fatalf("--force: %v", err)
		}
		b, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		if h, err := backup.ReadHeader(b); err != nil || h.KeyID != e.keyID {
			t.Fatalf("--force wrote %q: %v", b, err)
		}
		if st, err := os.Stat(out); err != nil || st.Mode().Perm() != 0o600 {
			t.Fatalf("mode after --force: %v %v", st.Mode(), err)
		}
		// The new file opens with the new words only.
		m, err := backup.ParseWords(strings.Join(shownWords(t, stdout), " "))
		if err != nil {
			t.Fatal(err)
		}
		defer m.Wipe()
		if _, pt, err := backup.Open(b, m); err != nil {
			t.Fatalf("the new file does not open with its words: %v", err)
		} else {
			clear(pt)
		}
		old, err := backup.ParseWords(line)
		if err != nil {
			t.Fatal(err)
		}
		defer old.Wipe()
		if _, _, err := backup.Open(b, old); !errors.Is(err, backup.ErrWrongWords) {
			t.Fatalf("the old words open the new file: %v", err)
		}
	})

	t.Run("a device that is not enrolled", func(t *testing.T) {
		dir := filepath.Join(t.TempDir(), "fresh")
		ks, err := keystore.Open(dir, keystore.NewPassphrase([]byte("test passphrase fresh")), keystore.Options{KDF: testkit.TestKDF})
		if err != nil {
			t.Fatal(err)
		}
		ks.Close()
		pass := filepath.Join(t.TempDir(), "pass")
		if err := os.WriteFile(pass, []byte("test passphrase fresh"), 0o600); err != nil {
			t.Fatal(err)
		}
		flags := []string{"--data", dir, "--passphrase-file", pass}
		_, err = runParty(t, strings.NewReader(line+"\n"), nil, append([]string{"backup", "restore", "--file", file}, flags...)...)
		if !errors.Is(err, party.ErrNotEnrolled) || !strings.Contains(err.Error(), "party enroll") {
			t.Fatalf("restore: want ErrNotEnrolled, got %v", err)
		}
		_, err = runParty(t, strings.NewReader(""), nil, append([]string{"backup", "export", "--key", e.keyID, "--out", filepath.Join(t.TempDir(), "x")}, flags...)...)
		if !errors.Is(err, party.ErrNotEnrolled) {
			t.Fatalf("export: want ErrNotEnrolled, got %v", err)
		}
	})

	t.Run("a running party holds the keystore", func(t *testing.T) {
		ks, err := keystore.Open(e.dirs["spare"], keystore.NewPassphrase([]byte("test passphrase spare")), keystore.Options{})
		if err != nil {
			t.Fatal(err)
		}
		defer ks.Close()
		if _, err := e.restore(t, "spare", file, line+"\n"); !errors.Is(err, keystore.ErrLocked) {
			t.Fatalf("want ErrLocked, got %v", err)
		}
	})

	t.Run("not a backup file", func(t *testing.T) {
		f := filepath.Join(t.TempDir(), "notes.txt")
		if err := os.WriteFile(f, []byte("hello\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := e.restore(t, "spare", f, line+"\n"); !errors.Is(err, backup.ErrNotBackup) {
			t.Fatalf("want ErrNotBackup, got %v", err)
		}
	})
}
