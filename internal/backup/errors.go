package backup

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
)

var (
	// ErrNotBackup reports a file that is not an mpcsign share backup at all.
	ErrNotBackup = errors.New("backup: not an mpcsign share backup file")
	// ErrUnsupportedVersion reports a backup written in a format version this
	// build does not read.
	ErrUnsupportedVersion = errors.New("backup: unsupported backup format version")
	// ErrTampered reports a backup file that is malformed, or whose content
	// does not authenticate under the right words: it was damaged or changed.
	ErrTampered = errors.New("backup: the backup file is damaged or was changed")
	// ErrWrongWords reports recovery words that are not the key of a backup.
	// The error is a *WordsError with the details.
	ErrWrongWords = errors.New("backup: wrong recovery words")
	// ErrChallengeFailed reports re-entered words that do not match the ones
	// shown at export. The error is a *WordsError naming the positions.
	ErrChallengeFailed = errors.New("backup: the words entered do not match the ones shown")
	// ErrOtherKey reports a backup of another key than the one expected.
	ErrOtherKey = errors.New("backup: the backup is of another key")
	// ErrOtherDevice reports a backup of another device's share.
	ErrOtherDevice = errors.New("backup: the backup is of another device's share")
	// ErrRetiredEpoch reports a backup of a share that a reshare has retired.
	ErrRetiredEpoch = errors.New("backup: the backed-up share was retired by a reshare")
	// ErrUnknownEpoch reports a backup of an epoch newer than the key's
	// current epoch.
	ErrUnknownEpoch = errors.New("backup: the backup's epoch is unknown")
)

// WordsProblem says what is wrong with a set of words.
type WordsProblem int

const (
	// WrongCount: not 24 words.
	WrongCount WordsProblem = iota + 1
	// UnknownWord: the words at Positions are not in the BIP39 English list.
	UnknownWord
	// BadChecksum: the words fail the BIP39 checksum; without the file it is
	// not possible to say which word is wrong.
	BadChecksum
	// WrongWord: the word at Positions[0] is wrong; with it replaced, the
	// words open the file.
	WrongWord
	// SwappedWords: the words at Positions[0] and Positions[1] are swapped.
	SwappedWords
	// NotThisFile: the words do not open the file and no single wrong word
	// or swap explains it.
	NotThisFile
	// ChallengeMismatch: re-entered words at Positions differ from the ones
	// shown.
	ChallengeMismatch
)

// WordsError describes wrong recovery words. It never holds the words.
// errors.Is(err, ErrWrongWords) holds for every problem except
// ChallengeMismatch, which matches ErrChallengeFailed.
type WordsError struct {
	Problem WordsProblem
	// Positions are 1-based word positions.
	Positions []int
	// Count is the number of words given (for WrongCount); -1 when the
	// input was too long to be recovery words.
	Count int
}

func (e *WordsError) Error() string {
	switch e.Problem {
	case WrongCount:
		if e.Count < 0 {
			return fmt.Sprintf("backup: too much text for %d recovery words", WordCount)
		}
		return fmt.Sprintf("backup: %d words entered; the recovery words of a backup are %d words", e.Count, WordCount)
	case UnknownWord:
		if len(e.Positions) == 1 {
			return fmt.Sprintf("backup: word %d is not in the BIP39 English word list", e.Positions[0])
		}
		return fmt.Sprintf("backup: words %s are not in the BIP39 English word list", positions(e.Positions))
	case BadChecksum:
		return "backup: the words do not check out (checksum): a word is wrong or two words are swapped, and the checksum cannot tell which"
	case WrongWord:
		if len(e.Positions) == 1 {
			return fmt.Sprintf("backup: word %d is wrong (the other %d words match this backup file); check it on your paper", e.Positions[0], WordCount-1)
		}
	case SwappedWords:
		if len(e.Positions) == 2 {
			return fmt.Sprintf("backup: words %d and %d are in the wrong order (swapped)", e.Positions[0], e.Positions[1])
		}
	case NotThisFile:
		return "backup: these words do not open this backup file: more than one word is wrong or out of order, the words belong to another backup, or the file was changed"
	case ChallengeMismatch:
		if len(e.Positions) == 1 {
			return fmt.Sprintf("backup: word %d does not match the word shown; check what you wrote down", e.Positions[0])
		}
		return fmt.Sprintf("backup: words %s do not match the words shown; check what you wrote down", positions(e.Positions))
	}
	return ErrWrongWords.Error()
}

// Unwrap makes errors.Is match ErrWrongWords or ErrChallengeFailed.
func (e *WordsError) Unwrap() error {
	if e.Problem == ChallengeMismatch {
		return ErrChallengeFailed
	}
	return ErrWrongWords
}

// positions formats 1-based positions as "3, 7 and 12".
func positions(p []int) string {
	s := make([]string, len(p))
	for i, v := range p {
		s[i] = strconv.Itoa(v)
	}
	if len(s) < 2 {
		return strings.Join(s, "")
	}
	return strings.Join(s[:len(s)-1], ", ") + " and " + s[len(s)-1]
}
