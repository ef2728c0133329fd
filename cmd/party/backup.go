package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/backup"
	"github.com/mpcsign/mpcsign/internal/readlimit"
	"github.com/mpcsign/mpcsign/party"
)

const (
	// challengeWords is how many words the person re-enters at export.
	challengeWords = 3
	// challengeAttempts bounds the tries at the challenge.
	challengeAttempts = 3
	// maxInputLine bounds one line read from standard input.
	maxInputLine = 1024
	// maxWordsText bounds the text read for the recovery words (standard
	// input or --words-file); backup.ParseWords reports text that is too long.
	maxWordsText = 8 << 10
)

func newBackupCmd(environ []string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "backup",
		Short: "Back up one share to a file and 24 paper words, or restore it on another device",
		Long: `A backup is a file holding one share of a key, encrypted under a fresh
random key that is shown once as 24 words (BIP39) to write on paper. The
words and the file together are the share: keep them apart.

'party backup restore' on another enrolled device stores the share as
'restored'; it signs only after the coordinator checked the backup's epoch
(a share retired by a reshare is refused) and an operator approved
(mpcctl devices approve NAME --restore KEY). Stop 'party run' first: a
running party holds the keystore.`,
	}
	cmd.AddCommand(newBackupExportCmd(environ), newBackupRestoreCmd(environ))
	return cmd
}

func newBackupExportCmd(environ []string) *cobra.Command {
	var f storeFlags
	var keyID, out string
	var force bool
	cmd := &cobra.Command{
		Use:   "export --key ID --out FILE",
		Short: "Write this device's current share of a key to a file, encrypted under 24 words shown once",
		Long: `Shows 24 recovery words once, then asks for a few of them again; the file is
written (mode 0600) only when they match. A reshare or drill retires the
backup: make a new one afterwards.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runExport(cmd, &f, keyID, out, force)
		},
	}
	f.register(cmd, environ)
	cmd.Flags().StringVar(&keyID, "key", "", "key id (required)")
	cmd.Flags().StringVar(&out, "out", "", "backup file to write (required)")
	cmd.Flags().BoolVar(&force, "force", false, "replace an existing file")
	_ = cmd.MarkFlagRequired("key")
	_ = cmd.MarkFlagRequired("out")
	return cmd
}

func runExport(cmd *cobra.Command, f *storeFlags, keyID, out string, force bool) error {
	if err := checkOutPath(out, force); err != nil {
		return err
	}
	ks, _, err := f.open(cmd)
	if err != nil {
		return err
	}
	defer ks.Close()
	cfg, err := party.LoadConfig(ks)
	if err != nil {
		return err
	}
	h, plaintext, err := party.BackupPayload(ks, keyID)
	if err != nil {
		return err
	}
	file, words, err := backup.Seal(h, plaintext)
	clear(plaintext)
	if err != nil {
		return err
	}
	defer words.Wipe()
	if h, err = backup.ReadHeader(file); err != nil {
		return err
	}

	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Backup of this device's share (device %q, %s):\n", cfg.Name, cfg.DeviceID)
	printHeader(w, h)
	fmt.Fprintf(w, "\nRecovery words: write them down in order, on paper. They are shown only this once.\n\n")
	printWords(w, words)

	in := newLineReader(cmd.InOrStdin())
	defer in.wipe()
	if err := confirmWords(w, in, words); err != nil {
		fmt.Fprintf(w, "The export is not done: nothing was written to %s.\n", out)
		return fmt.Errorf("%w; nothing was written to %s", err, out)
	}
	if err := writeBackupFile(out, file, force); err != nil {
		return err
	}
	fmt.Fprintf(w, "\nWrote %s (mode 0600).\n", out)
	fmt.Fprintf(w, "WARNING: the words and the file together are this share: whoever has both can take\n"+
		"this device's place. Keep them apart, and never type the words into anything but\n"+
		"'party backup restore'. After a reshare or a drill this backup no longer restores:\n"+
		"make a new one.\n")
	return nil
}

// checkOutPath refuses, before any words are shown, a path that cannot be
// written: an existing file (without --force), a directory, a missing folder.
func checkOutPath(path string, force bool) error {
	st, err := os.Stat(path)
	switch {
	case err == nil && st.IsDir():
		return fmt.Errorf("%s is a directory", path)
	case err == nil && !force:
		return fmt.Errorf("%s already exists; refusing to overwrite it (use --force to replace it)", path)
	case err != nil && !errors.Is(err, fs.ErrNotExist):
		return err
	}
	dir := filepath.Dir(path)
	if st, err := os.Stat(dir); err != nil {
		return fmt.Errorf("cannot write the backup: %w", err)
	} else if !st.IsDir() {
		return fmt.Errorf("cannot write the backup: %s is not a directory", dir)
	}
	return nil
}

// confirmWords asks for challengeWords of the words again, up to
// challengeAttempts times.
func confirmWords(w io.Writer, in *lineReader, words backup.Mnemonic) error {
	pos := backup.ChallengePositions(challengeWords)
	names := make([]string, len(pos))
	for i, p := range pos {
		names[i] = strconv.Itoa(p)
	}
	fmt.Fprintf(w, "\nTo check what you wrote, enter words %s from your paper, one per line.\n",
		strings.Join(names[:len(names)-1], ", ")+" and "+names[len(names)-1])
	var err error
	for attempt := 1; attempt <= challengeAttempts; attempt++ {
		answers := make([]string, len(pos))
		for i, p := range pos {
			fmt.Fprintf(w, "word %d: ", p)
			line, rerr := in.line()
			if rerr != nil {
				fmt.Fprintln(w)
				if errors.Is(rerr, io.EOF) {
					return errors.New("the words were not confirmed (end of input)")
				}
				return fmt.Errorf("the words were not confirmed: %w", rerr)
			}
			answers[i] = string(line)
		}
		err = backup.CheckChallenge(words, pos, answers)
		if err == nil {
			fmt.Fprintln(w, "The words match.")
			return nil
		}
		if !errors.Is(err, backup.ErrChallengeFailed) {
			return err
		}
		fmt.Fprintln(w, err)
		if attempt < challengeAttempts {
			fmt.Fprintf(w, "Compare your paper with the words above and try again (%d tries left).\n", challengeAttempts-attempt)
		}
	}
	return fmt.Errorf("the words were not confirmed after %d tries: %w", challengeAttempts, err)
}

// writeBackupFile writes the file with mode 0600 and syncs it; without force
// it never replaces an existing file.
func writeBackupFile(path string, b []byte, force bool) error {
	if !force {
		fh, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%s already exists; refusing to overwrite it (use --force to replace it)", path)
		}
		if err != nil {
			return err
		}
		if err := writeSync(fh, b); err != nil {
			_ = os.Remove(path)
			return fmt.Errorf("write %s: %w", path, err)
		}
		return syncDir(filepath.Dir(path))
	}
	fh, err := os.CreateTemp(filepath.Dir(path), ".party-backup-*")
	if err != nil {
		return err
	}
	tmp := fh.Name()
	err = fh.Chmod(0o600)
	if err == nil {
		err = writeSync(fh, b)
	} else {
		fh.Close()
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return syncDir(filepath.Dir(path))
}

// syncDir makes a new directory entry durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync %s: %w", dir, err)
	}
	return nil
}

// writeSync writes b, syncs and closes fh.
func writeSync(fh *os.File, b []byte) error {
	_, err := fh.Write(b)
	if err == nil {
		err = fh.Sync()
	}
	return errors.Join(err, fh.Close())
}

func printHeader(w io.Writer, h backup.Header) {
	fmt.Fprintf(w, "  key         %s\n", h.KeyID)
	fmt.Fprintf(w, "  epoch       %d\n", h.Epoch)
	fmt.Fprintf(w, "  device      %s (the device whose share this is)\n", h.DeviceID)
	fmt.Fprintf(w, "  committee   %d devices, any %d of them sign\n", len(h.Holders), h.Threshold+1)
	fmt.Fprintf(w, "  public key  %x\n", h.PublicKey)
	fmt.Fprintf(w, "  created at  %s\n", h.CreatedAt.UTC().Format(time.RFC3339))
}

// printWords shows the words numbered, four to a line.
func printWords(w io.Writer, m backup.Mnemonic) {
	words := m.Words()
	for i, word := range words {
		fmt.Fprintf(w, "  %2d. %-9s", i+1, word)
		if i%4 == 3 {
			fmt.Fprintln(w)
		}
	}
	clear(words)
}

func newBackupRestoreCmd(environ []string) *cobra.Command {
	var f storeFlags
	var file, wordsFile string
	cmd := &cobra.Command{
		Use:   "restore --file FILE [--words-file FILE]",
		Short: "Store a share from a backup file and its 24 words on this (enrolled) device",
		Long: `Shows what the backup file is, then asks for its 24 recovery words on standard
input (on one line or several), or reads them from --words-file. The share is
stored as 'restored': it signs only after the coordinator accepted the
backup's epoch and an operator approved the restore.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runRestore(cmd, &f, file, wordsFile)
		},
	}
	f.register(cmd, environ)
	cmd.Flags().StringVar(&file, "file", "", "backup file (required)")
	cmd.Flags().StringVar(&wordsFile, "words-file", "", "read the recovery words from this file instead of standard input")
	_ = cmd.MarkFlagRequired("file")
	return cmd
}

func runRestore(cmd *cobra.Command, f *storeFlags, file, wordsFile string) error {
	raw, err := readlimit.File(file, backup.MaxFileSize)
	if err != nil {
		return err
	}
	h, err := backup.ReadHeader(raw)
	if err != nil {
		return fmt.Errorf("%s: %w", file, err)
	}
	w := cmd.OutOrStdout()
	fmt.Fprintf(w, "Backup file %s:\n", file)
	printHeader(w, h)

	ks, _, err := f.open(cmd)
	if err != nil {
		return err
	}
	defer ks.Close()
	cfg, err := party.LoadConfig(ks)
	if errors.Is(err, party.ErrNotEnrolled) {
		return fmt.Errorf("a backup restores onto an enrolled device: %w", err)
	}
	if err != nil {
		return err
	}
	// Refuse early what RestoreShare would refuse, before the words are typed.
	if h.DeviceID == cfg.DeviceID {
		return fmt.Errorf("this backup was made on this very device (%s), which still holds the share; restore it on another enrolled device", cfg.DeviceID)
	}
	metas, err := party.ListShares(ks)
	if err != nil {
		return err
	}
	for _, m := range metas {
		if m.KeyID == h.KeyID && m.Epoch == h.Epoch {
			return fmt.Errorf("%w (key %s, epoch %d, state %s)", party.ErrRestoreConflict, m.KeyID, m.Epoch, m.State)
		}
	}

	var words backup.Mnemonic
	if wordsFile != "" {
		words, err = readWordsFile(wordsFile)
	} else {
		in := newLineReader(cmd.InOrStdin())
		defer in.wipe()
		fmt.Fprintf(w, "\nEnter the %d recovery words in order (on one line or several):\n", backup.WordCount)
		words, err = readWords(in)
	}
	if err != nil {
		return err
	}
	defer words.Wipe()
	ah, plaintext, err := backup.Open(raw, words)
	if err != nil {
		return err
	}
	meta, err := party.RestoreShare(ks, ah, plaintext)
	clear(plaintext)
	if err != nil {
		return err
	}
	fmt.Fprintf(w, "\nStored the share of key %s, epoch %d (from device %s) as %q: it does not sign yet.\n",
		meta.KeyID, meta.Epoch, meta.RestoredFrom, meta.State)
	fmt.Fprintf(w, "Next:\n")
	fmt.Fprintf(w, "  1. start `party run`; the coordinator checks the backup's epoch (a share retired by a reshare is refused)\n")
	fmt.Fprintf(w, "  2. an operator must approve: `mpcctl devices approve %s --restore %s`\n", cfg.Name, meta.KeyID)
	fmt.Fprintf(w, "  3. then run `mpcctl drill --key %s` so the original device's copy becomes useless\n", meta.KeyID)
	return nil
}

// readWords reads lines until they hold at least backup.WordCount words (or
// the input ends) and parses them. The text read is wiped.
func readWords(in *lineReader) (backup.Mnemonic, error) {
	buf := make([]byte, 0, maxWordsText+maxInputLine+1)
	defer func() { clear(buf[:cap(buf)]) }()
	isSep := func(r rune) bool { return r == ',' || unicode.IsSpace(r) }
	n := 0
	for n < backup.WordCount && len(buf) <= maxWordsText {
		line, err := in.line()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return backup.Mnemonic{}, fmt.Errorf("reading the recovery words: %w", err)
		}
		n += len(bytes.FieldsFunc(line, isSep))
		buf = append(append(buf, line...), '\n')
	}
	if n == 0 {
		return backup.Mnemonic{}, errors.New("no recovery words were entered")
	}
	return backup.ParseWords(string(buf))
}

func readWordsFile(path string) (backup.Mnemonic, error) {
	b, err := readlimit.File(path, maxWordsText)
	if err != nil {
		return backup.Mnemonic{}, err
	}
	defer clear(b)
	return backup.ParseWords(string(b))
}

// lineReader reads lines of at most maxInputLine bytes into one buffer that
// wipe clears.
type lineReader struct {
	buf []byte
	sc  *bufio.Scanner
}

func newLineReader(r io.Reader) *lineReader {
	l := &lineReader{buf: make([]byte, maxInputLine+1)}
	l.sc = bufio.NewScanner(r)
	l.sc.Buffer(l.buf, len(l.buf))
	return l
}

// line returns the next line without its end, valid until the next call;
// io.EOF at the end of input.
func (l *lineReader) line() ([]byte, error) {
	if l.sc.Scan() {
		return bytes.TrimRight(l.sc.Bytes(), "\r"), nil
	}
	if errors.Is(l.sc.Err(), bufio.ErrTooLong) {
		return nil, fmt.Errorf("a line longer than %d bytes", maxInputLine)
	}
	if err := l.sc.Err(); err != nil {
		return nil, err
	}
	return nil, io.EOF
}

func (l *lineReader) wipe() { clear(l.buf) }
