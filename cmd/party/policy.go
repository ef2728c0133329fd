package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/party"
)

func newPolicyCmd(environ []string) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "policy",
		Short: "Set and show this device's approval policy for signing",
		Long: `Each key has an approval policy on this device; the device enforces it
itself, so a coordinator cannot sign behind its back:
  auto    sign without asking (within the limits below)
  prompt  ask the person at the device (party run --prompt), 30 s to answer
  deny    never sign
Limits: --max-per-hour caps the signatures this device approves per hour
for the key (a signature counts when the device approves it, once per
requested item, whether or not the session then completes); --requesters
allows only the named requesters. On a device that pins a roster these are
the requesters' roster names ('mpcctl requesters list'), whose signed
requests the device verifies itself, and every signature needs one; on a
device without a roster, API token names as the coordinator reports them.
Requesters' own caps (mpcctl requesters create --max-per-hour) apply on
top. Keys without a policy of their own use the --all policy, and with none
at all, auto. Change it while 'party run' is stopped.`,
	}
	cmd.AddCommand(newPolicySetCmd(environ), newPolicyShowCmd(environ))
	return cmd
}

// policySetFlags are the flags of 'policy set'.
type policySetFlags struct {
	store      storeFlags
	keyID      string
	mode       string
	requesters string
	all        bool
	perHour    int
}

func newPolicySetCmd(environ []string) *cobra.Command {
	var f policySetFlags
	set := &cobra.Command{
		Use:   "set (--key ID | --all) --mode auto|prompt|deny",
		Short: "Set the policy of one key or the default",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPolicySet(cmd, &f)
		},
	}
	f.store.register(set, environ)
	set.Flags().StringVar(&f.keyID, "key", "", "key id")
	set.Flags().BoolVar(&f.all, "all", false, "the default for keys without their own policy")
	set.Flags().StringVar(&f.mode, "mode", "", "auto, prompt or deny (required)")
	set.Flags().IntVar(&f.perHour, "max-per-hour", 0, "at most this many signatures per hour (0: no cap)")
	set.Flags().StringVar(&f.requesters, "requesters", "", "comma-separated requesters allowed to ask: roster names on a device with a roster, else API token names (default: any)")
	_ = set.MarkFlagRequired("mode")
	return set
}

func runPolicySet(cmd *cobra.Command, f *policySetFlags) error {
	if f.all == (f.keyID != "") {
		return fmt.Errorf("give exactly one of --key and --all")
	}
	target := f.keyID
	if f.all {
		target = party.AllKeys
	}
	p := party.Policy{Mode: party.PolicyMode(f.mode), MaxPerHour: f.perHour}
	if f.requesters != "" {
		p.Requesters = strings.Split(f.requesters, ",")
	}
	ks, _, err := f.store.open(cmd)
	if err != nil {
		return err
	}
	defer ks.Close()
	if err := party.SetPolicy(ks, target, p); err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "policy for %s: %s\n", target, describe(p))
	return nil
}

func newPolicyShowCmd(environ []string) *cobra.Command {
	var g storeFlags
	var showKey string
	show := &cobra.Command{
		Use:   "show [--key ID]",
		Short: "Show the policy that applies to a key (or the default)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return runPolicyShow(cmd, &g, showKey)
		},
	}
	g.register(show, environ)
	show.Flags().StringVar(&showKey, "key", "", "key id (default: the default policy)")
	return show
}

func runPolicyShow(cmd *cobra.Command, g *storeFlags, keyID string) error {
	ks, _, err := g.open(cmd)
	if err != nil {
		return err
	}
	defer ks.Close()
	target := keyID
	if target == "" {
		target = party.AllKeys
	}
	p, err := party.PolicyFor(ks, target)
	if err != nil {
		return err
	}
	fmt.Fprintf(cmd.OutOrStdout(), "policy for %s: %s\n", target, describe(p))
	return nil
}

func describe(p party.Policy) string {
	s := string(p.Mode)
	if p.MaxPerHour > 0 {
		s += fmt.Sprintf(", at most %d per hour", p.MaxPerHour)
	}
	if len(p.Requesters) > 0 {
		s += ", only for " + strings.Join(p.Requesters, ", ")
	}
	return s
}

func newAuditCmd(environ []string) *cobra.Command {
	var f storeFlags
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "audit",
		Short: "Show what this device approved or refused (its local log)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ks, _, err := f.open(cmd)
			if err != nil {
				return err
			}
			defer ks.Close()
			ds, err := party.Decisions(ks)
			if err != nil {
				return err
			}
			w := cmd.OutOrStdout()
			for _, d := range ds {
				if asJSON {
					b, _ := json.Marshal(d)
					fmt.Fprintln(w, string(b))
					continue
				}
				verdict := "refused"
				if d.Approved {
					verdict = "approved"
				}
				what := "digest " + d.Digest
				if d.Kind == "reshare" {
					what = "reshare " + d.Digest
				}
				fmt.Fprintf(w, "%s  %-8s  key %s  %s  requester %q  %s\n", d.Time.Local().Format(time.DateTime), verdict, d.KeyID, what, d.Requester, d.Reason)
			}
			return nil
		},
	}
	f.register(cmd, environ)
	cmd.Flags().BoolVar(&asJSON, "json", false, "JSON lines")
	return cmd
}

// terminalPrompter asks on the party's own terminal, one request at a time.
//
// An answer approves only the prompt it was typed for. The coordinator
// decides when a prompt ends (it can abort the session, or give it a short
// deadline), so a "y" typed a moment too late, or a stray keystroke typed
// while no prompt was open, must not approve whatever request comes next.
// So each prompt shows a fresh random code and approves only on that code,
// a line read while no prompt is open is thrown away, and a line read
// during one prompt is never taken as the answer to a later one.
type terminalPrompter struct {
	mu    sync.Mutex // one prompt at a time
	out   io.Writer
	lines chan answerLine
	code  func() (string, error) // the code a prompt shows (random; a test may fix it)
	last  uint64                 // the last prompt's number (under mu)
	open  atomic.Uint64          // the number of the prompt on screen, 0 for none
}

// answerLine is one line typed at the terminal, with the number of the
// prompt that was on screen when it was read.
type answerLine struct {
	text   string
	prompt uint64
}

func newTerminalPrompter(in io.Reader, out io.Writer) *terminalPrompter {
	p := &terminalPrompter{out: out, lines: make(chan answerLine), code: randomCode}
	go func() {
		sc := bufio.NewScanner(in)
		for sc.Scan() {
			l := answerLine{text: sc.Text(), prompt: p.open.Load()}
			if l.prompt == 0 {
				// Typed while no prompt was open: it answers nothing.
				fmt.Fprintln(p.out, "(no request is waiting for an answer: ignored)")
				continue
			}
			p.lines <- l
		}
		close(p.lines)
	}()
	return p
}

// randomCode is four random decimal digits.
func randomCode() (string, error) {
	n, err := rand.Int(rand.Reader, big.NewInt(10000))
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%04d", n.Int64()), nil
}

func (p *terminalPrompter) Ask(ctx context.Context, req party.SignRequest) (bool, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	code, err := p.code()
	if err != nil {
		return false, err
	}
	p.last++
	n := p.last
	p.open.Store(n)
	defer p.open.Store(0)
	if r := req.Reshare; r != nil {
		fmt.Fprintf(p.out, "\nreshare request: key %s to epoch %d, new committee %s (any %d of them sign), requested by %q\n",
			req.KeyID, r.NewEpoch, strings.Join(r.NewCommittee, ", "), r.NewThreshold+1, req.Requester)
	} else {
		who := fmt.Sprintf("requested by %q (as the coordinator reports it)", req.Requester)
		if req.Signed != nil {
			who = fmt.Sprintf("requested by %q (its signature checked against this device's roster)", req.Requester)
		}
		fmt.Fprintf(p.out, "\nsigning request: key %s, %s, %s\n", req.KeyID, req.What(), who)
	}
	fmt.Fprintf(p.out, "to approve, type %s (anything else refuses): ", code)
	for {
		select {
		case l, ok := <-p.lines:
			if !ok {
				return false, io.EOF
			}
			if l.prompt != n {
				// Typed for an earlier prompt, after it ended.
				fmt.Fprintln(p.out, "(an answer to an earlier request: ignored)")
				continue
			}
			if strings.TrimSpace(l.text) == code {
				return true, nil
			}
			fmt.Fprintln(p.out, "(not the code shown: refused)")
			return false, nil
		case <-ctx.Done():
			fmt.Fprintln(p.out, "(no answer in time: refused)")
			return false, ctx.Err()
		}
	}
}
