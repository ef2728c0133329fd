// Package pagelist reads a paged listing of the coordinator's admin API
// (page_size, page_token, next_page_token: Google's AIP-158) page after
// page, for the clients that show or search a whole listing: the
// operator's CLI, the demo, the web console and the tests.
package pagelist

import (
	"errors"
	"fmt"
)

// All calls fetch with "" and then with each page's next_page_token until
// a page has none, and returns the items of every page in order. With
// limit above 0 it stops once it holds limit items, and returns those.
// A token the listing already gave is an error (a listing that would never
// end).
func All[T any](limit int, fetch func(token string) (items []T, next string, err error)) ([]T, error) {
	var all []T
	seen := map[string]bool{}
	token := ""
	for {
		items, next, err := fetch(token)
		if err != nil {
			return nil, err
		}
		all = append(all, items...)
		if limit > 0 && len(all) >= limit {
			return all[:limit], nil
		}
		if next == "" {
			return all, nil
		}
		if seen[next] {
			return nil, fmt.Errorf("listing: %w", errRepeated)
		}
		seen[next], token = true, next
	}
}

var errRepeated = errors.New("the coordinator gave the same page token twice")
