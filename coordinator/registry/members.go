package registry

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"
)

// KeyMembers returns the ids of the devices that are members of k, sorted
// and each once: the devices that hold it (Holders), held an older epoch
// and may keep its share until they hear of the commit (PastHolders), will
// hold it if the reshare in flight commits (InFlight.Holders), or restored
// a share of it from a backup that waits for an operator's approval
// (PendingRestores' Device). A store indexes a key under each of them
// (ListKeysOfDevice). PartyKeyIdentity names holders only, and a pending
// restore's Original is a holder when it is recorded: neither adds one.
//
// The ids are as k's stored document has them: text that is not UTF-8
// becomes U+FFFD, as JSON has it. An id holding a NUL is refused
// (ErrMemberID), in every store alike: PostgreSQL's text cannot hold it.
func KeyMembers(k Key) ([]string, error) {
	out := keyMembers(k)
	for _, id := range out {
		if strings.Contains(id, "\x00") {
			return nil, fmt.Errorf("%w: key %q, device %q", ErrMemberID, k.ID, id)
		}
	}
	return out, nil
}

// keyMembers is KeyMembers without the check, for records already stored.
func keyMembers(k Key) []string {
	var out []string
	add := func(ids ...string) {
		for _, id := range ids {
			if !utf8.ValidString(id) {
				id = string([]rune(id)) // each invalid byte becomes U+FFFD, as encoding/json writes it
			}
			out = append(out, id)
		}
	}
	add(k.Holders...)
	add(k.PastHolders...)
	if k.InFlight != nil {
		add(k.InFlight.Holders...)
	}
	for _, r := range k.PendingRestores {
		add(r.Device)
	}
	slices.Sort(out)
	return slices.Compact(out)
}
