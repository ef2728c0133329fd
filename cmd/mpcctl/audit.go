package main

import (
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/auditlog"
	mpcv1 "github.com/mpcsign/mpcsign/proto/mpc/v1"
)

func newAuditCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "audit", Short: "Export and verify the coordinator's hash-chained audit log"}
	cmd.AddCommand(newAuditExportCmd(g), newAuditVerifyCmd(g))
	return cmd
}

func newAuditExportCmd(g *globals) *cobra.Command {
	var since uint64
	var limit int
	var out string
	export := &cobra.Command{
		Use:   "export [--since SEQ] [--limit N] [--out FILE]",
		Short: "Write the audit log as JSON lines",
		Long: `Writes audit entries (pairings, approvals, key creations, signatures,
revocations, token changes, failed sessions with their culprits) as JSON
lines, oldest first: every entry from --since to the newest (the coordinator
sends them a page at a time), or with --limit the first N. Each entry
carries the hash of the one before it; 'mpcctl audit verify' checks the
chain of an export of the whole log (of an export --since SEQ, with --since
SEQ --prev and the hash of entry SEQ-1).`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if limit < 0 {
				return fmt.Errorf("--limit %d: give 0 for every entry, or how many to write", limit)
			}
			return runAuditExport(cmd, g, since, limit, out)
		},
	}
	export.Flags().Uint64Var(&since, "since", 1, "first sequence number")
	export.Flags().IntVar(&limit, "limit", 0, "write at most this many entries (0: all)")
	export.Flags().StringVar(&out, "out", "", "file to write (default: standard output)")
	return export
}

// auditPage is the page size of an export: the coordinator's default.
const auditPage = 1000

func runAuditExport(cmd *cobra.Command, g *globals, since uint64, limit int, out string) error {
	c, done, ctx, err := g.admin(cmd)
	if err != nil {
		return err
	}
	defer done()
	var w io.Writer = cmd.OutOrStdout()
	if out != "" {
		f, err := os.Create(out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	n := 0
	// Each page is written as it comes; a repeated token ends the export
	// with an error, as pagelist.All does.
	seen := map[string]bool{}
	for token := ""; ; {
		size := auditPage
		if limit > 0 {
			size = min(size, limit-n)
		}
		resp, err := c.ExportAudit(ctx, &mpcv1.ExportAuditRequest{SinceSeq: max(since, 1), PageSize: int32(size), PageToken: token})
		if err != nil {
			return err
		}
		for _, e := range resp.GetEntries() {
			if _, err := w.Write(append(e, '\n')); err != nil {
				return err
			}
		}
		n += len(resp.GetEntries())
		token = resp.GetNextPageToken()
		if token == "" || limit > 0 && n >= limit {
			break
		}
		if seen[token] {
			return errors.New("the coordinator gave the same page token twice; the export is incomplete")
		}
		seen[token] = true
	}
	if out != "" {
		fmt.Fprintf(cmd.ErrOrStderr(), "wrote %d entries to %s\n", n, out)
	}
	return nil
}

func newAuditVerifyCmd(g *globals) *cobra.Command {
	var since uint64
	var prev, expect string
	verify := &cobra.Command{
		Use:   "verify FILE [--since SEQ --prev HASH] [--expect-head SEQ:HASH]",
		Short: "Check the hash chain of an exported audit log (offline)",
		Long: `Checks an export (JSON lines, as 'mpcctl audit export' writes them) offline:
every line must be exactly the log's encoding of one entry, every entry must
hash to its own hash and carry the hash of the one before it, and the export
must start at the log's first entry (seq 1). The first entry that fails is
named by its line and seq.

An export --since SEQ is checked with --since SEQ --prev HASH, HASH being the
hash of entry SEQ-1 (the head an earlier verification reported).

A check cannot see entries cut off the end of an export by itself: keep the
head it prints (SEQ:HASH) and give it as --expect-head to a later check, which
then fails unless the export holds that entry with that hash, so nothing up
to it was cut off or rewritten.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o := auditlog.Options{Since: since, Prev: prev}
			switch {
			case since > 1 && prev == "":
				return fmt.Errorf("--since %d: give --prev with the hash of entry %d (the head a check of the export up to it printed), or export and check the log from its first entry", since, since-1)
			case since <= 1 && prev != "" && prev != auditlog.Genesis:
				return errors.New("--prev without --since: a check from the first entry needs no --prev")
			case since > 1 && !auditlog.IsHash(prev):
				return fmt.Errorf("--prev %q: want the hash of entry %d, 64 lowercase hex digits", prev, since-1)
			}
			if expect != "" {
				h, err := auditlog.ParseHead(expect)
				if err != nil {
					return fmt.Errorf("--expect-head %w", err)
				}
				o.Expect = &h
			}
			return runAuditVerify(cmd, g, args[0], o)
		},
	}
	verify.Flags().Uint64Var(&since, "since", 1, "the sequence number the export starts at (an export --since)")
	verify.Flags().StringVar(&prev, "prev", "", "with --since: the hash of the entry before it")
	verify.Flags().StringVar(&expect, "expect-head", "", "SEQ:HASH of an entry the export must hold, the head an earlier check printed")
	return verify
}

func runAuditVerify(cmd *cobra.Command, g *globals, path string, o auditlog.Options) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	res, err := auditlog.VerifyFrom(f, o)
	var broken *auditlog.BrokenError
	var short *auditlog.HeadError
	switch {
	case errors.As(err, &broken):
		if g.asJSON {
			_ = printJSON(cmd.OutOrStdout(), map[string]any{"ok": false, "entries_checked": res.Entries, "broken_at_entry": broken.Line, "seq": broken.Seq, "reason": broken.Reason})
		}
		if broken.Line == 1 && max(o.Since, 1) == 1 && broken.Seq > 1 {
			return fmt.Errorf("%w: --since %d --prev HASH_OF_ENTRY_%d", err, broken.Seq, broken.Seq-1)
		}
		return err
	case errors.As(err, &short):
		if g.asJSON {
			_ = printJSON(cmd.OutOrStdout(), map[string]any{"ok": false, "entries_checked": res.Entries, "last_seq": short.Last, "expected_head": short.Expect.String(), "reason": short.Reason})
		}
		return err
	case err != nil:
		return err
	case res.Entries == 0:
		if g.asJSON {
			_ = printJSON(cmd.OutOrStdout(), map[string]any{"ok": false, "entries_checked": 0, "reason": "the export holds no entries"})
		}
		return fmt.Errorf("%s holds no audit entries: nothing was verified", path)
	}
	head := auditlog.Head{Seq: res.Last, Hash: res.Head}
	if g.asJSON {
		out := map[string]any{"ok": true, "entries": res.Entries, "first_seq": res.First, "last_seq": res.Last, "head": res.Head, "head_seq": res.Last}
		if res.First > 1 {
			out["prev"] = o.Prev
		}
		if o.Expect != nil {
			out["expected_head"] = o.Expect.String()
		}
		return printJSON(cmd.OutOrStdout(), out)
	}
	from := "from the log's first entry"
	if res.First > 1 {
		from = fmt.Sprintf("from the hash given for entry %d", res.First-1)
	}
	fmt.Fprintf(cmd.OutOrStdout(), "verified %d entries, seq %d to %d; chain intact %s; head %s\n", res.Entries, res.First, res.Last, from, head)
	if o.Expect != nil {
		fmt.Fprintf(cmd.OutOrStdout(), "holds the expected head %s\n", o.Expect)
	}
	return nil
}
