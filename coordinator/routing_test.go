package coordinator

import (
	"slices"
	"testing"
)

// The common-member rule: only a device in every failed attempt whose
// blame was not proven, and absent from the one that succeeded, is struck.
func TestCommonMemberRule(t *testing.T) {
	att := &attempts{named: map[string]int{}}
	if got := att.common([]string{"a", "b"}); got != nil {
		t.Fatalf("no failed attempt: struck %v", got)
	}
	att.failed = [][]string{{"evil", "h1"}}
	if got := att.common([]string{"h1", "h2"}); !slices.Equal(got, []string{"evil"}) {
		t.Fatalf("one failure with evil and h1, success with h1 and h2: struck %v, want evil", got)
	}
	att.failed = append(att.failed, []string{"evil", "h2"})
	if got := att.common([]string{"h1", "h2"}); !slices.Equal(got, []string{"evil"}) {
		t.Fatalf("evil in both failures: struck %v, want evil", got)
	}
	att.failed = append(att.failed, []string{"h1", "h2"})
	if got := att.common([]string{"h3", "h4"}); got != nil {
		t.Fatalf("no device in every failure: struck %v", got)
	}
	// A device in every failure but also in the success is not struck.
	att.failed = [][]string{{"x", "h1"}, {"x", "h2"}}
	if got := att.common([]string{"x", "h3"}); got != nil {
		t.Fatalf("x signed the successful attempt: struck %v", got)
	}
}

// The next subset puts named and failed devices last and never repeats a
// failed subset; with every subset tried, there is none.
func TestUntriedSubset(t *testing.T) {
	ds := []Device{{ID: "evil"}, {ID: "h1"}, {ID: "h2"}}
	att := &attempts{named: map[string]int{}}
	pick := func() []string {
		order := slices.Clone(ds)
		slices.SortStableFunc(order, func(a, b Device) int { return att.score(a.ID) - att.score(b.ID) })
		got := untriedSubset(order, 2, att)
		if got == nil {
			return nil
		}
		ids := deviceIDs(got)
		slices.Sort(ids)
		return ids
	}
	if got := pick(); !slices.Equal(got, []string{"evil", "h1"}) {
		t.Fatalf("first pick %v, want the holders in order", got)
	}
	// evil accuses h1 without proof: the failed pair, h1 named.
	att.failed, att.named["h1"] = [][]string{{"evil", "h1"}}, 1
	if got := pick(); !slices.Equal(got, []string{"evil", "h2"}) {
		t.Fatalf("after evil named h1: %v, want evil with h2 (h1 is named, the pair failed)", got)
	}
	att.failed, att.named["h2"] = append(att.failed, []string{"evil", "h2"}), 1
	if got := pick(); !slices.Equal(got, []string{"h1", "h2"}) {
		t.Fatalf("after evil named h2 too: %v, want the honest pair", got)
	}
	att.failed = append(att.failed, []string{"h1", "h2"})
	if got := pick(); got != nil {
		t.Fatalf("every pair failed: picked %v", got)
	}
}
