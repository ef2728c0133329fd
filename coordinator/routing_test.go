package coordinator

import (
	"slices"
	"testing"
)

// The common-member rule: only the one device in every failed attempt
// whose blame was not proven, absent from the one that succeeded, is
// struck; never when another device shares every failure with it, and
// never one that signed the success (a saboteur could arrange either
// pattern against an honest device).
func TestCommonMemberRule(t *testing.T) {
	att := &attempts{named: map[string]int{}}
	if got := att.common([]string{"a", "b"}); got != nil {
		t.Fatalf("no failed attempt: struck %v", got)
	}
	att.failed = [][]string{{"evil", "h1"}}
	if got := att.common([]string{"h1", "h2"}); got != nil {
		t.Fatalf("one failure with evil and h1: struck %v; either could be the saboteur", got)
	}
	// The framing attack: evil fails next to h1 and cooperates next to h2.
	if got := att.common([]string{"evil", "h2"}); got != nil {
		t.Fatalf("evil failed next to h1 and signed with h2: struck %v, want nobody (evil could be framing h1)", got)
	}
	att.failed = append(att.failed, []string{"evil", "h2"})
	if got := att.common([]string{"h1", "h2"}); !slices.Equal(got, []string{"evil"}) {
		t.Fatalf("evil alone in both failures, absent from the success: struck %v, want evil", got)
	}
	// Three of five: evil fails twice next to h1, then signs the success.
	att.failed = [][]string{{"evil", "h1", "h2"}, {"evil", "h1", "h3"}}
	if got := att.common([]string{"evil", "h2", "h3"}); got != nil {
		t.Fatalf("evil and h1 in every failure, evil in the success: struck %v, want nobody", got)
	}
	if got := att.common([]string{"h2", "h3", "h4"}); got != nil {
		t.Fatalf("evil and h1 in every failure: struck %v, want nobody", got)
	}
	att.failed = append(att.failed, []string{"evil", "h4", "h2"})
	if got := att.common([]string{"h1", "h2", "h3"}); !slices.Equal(got, []string{"evil"}) {
		t.Fatalf("evil alone in every failure: struck %v, want evil", got)
	}
	att.failed = append(att.failed, []string{"h1", "h2", "h3"})
	if got := att.common([]string{"h4", "h5", "h2"}); got != nil {
		t.Fatalf("no device in every failure: struck %v", got)
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
