package pagelist

import (
	"errors"
	"slices"
	"strconv"
	"testing"
)

// pages serves items in pages of size, with tokens that say where the next
// page starts.
func pages(items []int, size int) func(string) ([]int, string, error) {
	return func(token string) ([]int, string, error) {
		from := 0
		if token != "" {
			var err error
			if from, err = strconv.Atoi(token); err != nil {
				return nil, "", err
			}
		}
		to := min(from+size, len(items))
		next := ""
		if to < len(items) {
			next = strconv.Itoa(to)
		}
		return items[from:to], next, nil
	}
}

func TestAll(t *testing.T) {
	items := []int{1, 2, 3, 4, 5, 6, 7}
	for _, size := range []int{1, 2, 3, 7, 10} {
		if got, err := All(0, pages(items, size)); err != nil || !slices.Equal(got, items) {
			t.Errorf("pages of %d: %v %v", size, got, err)
		}
		if got, err := All(4, pages(items, size)); err != nil || !slices.Equal(got, items[:4]) {
			t.Errorf("pages of %d, limit 4: %v %v", size, got, err)
		}
	}
	if got, err := All(0, pages(nil, 3)); err != nil || len(got) != 0 {
		t.Errorf("no items: %v %v", got, err)
	}
	calls := 0
	if _, err := All(0, func(string) ([]int, string, error) { calls++; return []int{1}, "again", nil }); !errors.Is(err, errRepeated) || calls != 2 {
		t.Errorf("a repeated token: %v after %d calls", err, calls)
	}
	failed := errors.New("unavailable")
	if _, err := All(0, func(string) ([]int, string, error) { return nil, "", failed }); !errors.Is(err, failed) {
		t.Errorf("a failed page: %v", err)
	}
}
