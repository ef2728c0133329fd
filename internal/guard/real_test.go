package guard

import (
	"fmt"
	"sort"
	"testing"
)

var allProtocols = []Protocol{KeygenECDSA, SignECDSA, ReshareECDSA}

// TestRealMessagesPass: every message of the real runs passes CheckWire and
// Check (no false positives), and the runs sent every message type the guard
// knows.
func TestRealMessagesPass(t *testing.T) {
	r := runs(t)
	for _, proto := range allProtocols {
		p := r.params[proto]
		seen := map[string]int{}
		for i, m := range r.msgs[proto] {
			seen[m.typ]++
			t.Run(fmt.Sprintf("%s/%03d-%s", proto, i, shortType(m.typ)), func(t *testing.T) {
				if err := CheckWire(p, m.wire); err != nil {
					t.Fatalf("CheckWire: %v", err)
				}
				msg, err := m.parse()
				if err != nil {
					t.Fatalf("parse: %v", err)
				}
				if err := check(p, msg); err != nil {
					t.Fatalf("Check: %v", err)
				}
			})
		}
		for typ := range rulesFor(proto) {
			if seen[typ] == 0 {
				t.Errorf("%s: the real run sent no %s", proto, typ)
			}
		}
	}
}

// TestRealMessagesPassSession replays, for every receiving party, the
// messages it received in the order they were sent, through one Session.
func TestRealMessagesPassSession(t *testing.T) {
	r := runs(t)
	for _, proto := range allProtocols {
		t.Run(proto.String(), func(t *testing.T) {
			sessions := map[string]*Session{}
			n := 0
			for _, m := range r.msgs[proto] {
				msg, err := m.parse()
				if err != nil {
					t.Fatal(err)
				}
				for _, to := range m.to {
					s := sessions[to]
					if s == nil {
						if s, err = NewSession(r.params[proto]); err != nil {
							t.Fatal(err)
						}
						if proto == SignECDSA {
							if err := s.LearnKey(r.keys[to]); err != nil {
								t.Fatal(err)
							}
						}
						sessions[to] = s
					}
					if err := s.Check(msg); err != nil {
						t.Fatalf("%s -> %s: %v", m.from.Id, to, err)
					}
					// A retransmitted copy is accepted again.
					if err := s.Check(msg); err != nil {
						t.Fatalf("%s -> %s (again): %v", m.from.Id, to, err)
					}
					n++
				}
			}
			if n == 0 {
				t.Fatal("no deliveries")
			}
		})
	}
}

// TestRealMessageSizes measures the largest real message of each protocol and
// checks that the wire cap leaves a margin above it but stays close to it.
func TestRealMessageSizes(t *testing.T) {
	r := runs(t)
	for _, proto := range allProtocols {
		largest := map[string]int{}
		max := 0
		for _, m := range r.msgs[proto] {
			if len(m.wire) > largest[m.typ] {
				largest[m.typ] = len(m.wire)
			}
			if len(m.wire) > max {
				max = len(m.wire)
			}
		}
		types := make([]string, 0, len(largest))
		for typ := range largest {
			types = append(types, typ)
		}
		sort.Strings(types)
		for _, typ := range types {
			t.Logf("%-14s %-18s %7d bytes", proto, shortType(typ), largest[typ])
		}
		limit := wireCap(proto)
		t.Logf("%-14s largest %d bytes, cap %d bytes (%.2fx)", proto, max, limit, float64(limit)/float64(max))
		if float64(limit) < 1.15*float64(max) || float64(limit) > 2*float64(max) {
			t.Errorf("%s: cap %d is not within 1.15x-2x of the largest real message (%d)", proto, limit, max)
		}
	}
}

func shortType(typ string) string {
	for i := len(typ) - 1; i >= 0; i-- {
		if typ[i] == '.' {
			return typ[i+1:]
		}
	}
	return typ
}
