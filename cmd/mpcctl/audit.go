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
chain of an export of the whole log.`,
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
	return &cobra.Command{
		Use:   "verify FILE",
		Short: "Check the hash chain of an exported audit log (offline)",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runAuditVerify(cmd, g, args[0])
		},
	}
}

func runAuditVerify(cmd *cobra.Command, g *globals, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	n, head, err := auditlog.Verify(f)
	var broken *auditlog.BrokenError
	if errors.As(err, &broken) {
		if g.asJSON {
			_ = printJSON(cmd.OutOrStdout(), map[string]any{"ok": false, "entries_checked": n, "broken_at_entry": broken.Line, "seq": broken.Seq, "reason": broken.Reason})
		}
		return err
	}
	if err != nil {
		return err
	}
	if g.asJSON {
		return printJSON(cmd.OutOrStdout(), map[string]any{"ok": true, "entries": n, "head": head})
	}
	fmt.Fprintf(cmd.OutOrStdout(), "verified %d entries; chain intact; head hash %s\n", n, head)
	return nil
}
