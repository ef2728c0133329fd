package main

import (
	"fmt"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/mpcsign/mpcsign/internal/preparams"
)

func newPreparamsCmd() *cobra.Command {
	cmd := &cobra.Command{
		Use:   "preparams",
		Short: "Pre-parameter (Paillier safe prime) tools",
	}
	var out string
	var count, concurrency int
	gen := &cobra.Command{
		Use:   "generate-test-fixtures",
		Short: "Write TEST-ONLY pre-parameter sets to a file (never for real keys)",
		Long: `Generates pre-parameter sets and writes them to a file marked test-only.

Such a file lets tests skip minutes of safe-prime generation. Once written to a
repository its secrets are public: a party accepts it only through the hidden
--insecure-test-preparams flag, which only a build with -tags testfixtures
has, and logs a warning when it does. A real party always generates its own
sets in the background (see 'party run').`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if count < 1 || count > 64 {
				return fmt.Errorf("--count must be between 1 and 64")
			}
			var sets []*preparams.Set
			for i := 0; i < count; i++ {
				start := time.Now()
				s, err := preparams.Generate(cmd.Context(), concurrency)
				if err != nil {
					return err
				}
				sets = append(sets, s)
				fmt.Fprintf(cmd.ErrOrStderr(), "set %d/%d generated in %s\n", i+1, count, time.Since(start).Round(time.Millisecond))
			}
			f, err := os.Create(out)
			if err != nil {
				return err
			}
			if err := preparams.WriteTestFixtures(f, sets); err != nil {
				f.Close()
				return err
			}
			return f.Close()
		},
	}
	gen.Flags().StringVar(&out, "out", "", "file to write (required)")
	gen.Flags().IntVar(&count, "count", 1, "number of sets")
	gen.Flags().IntVar(&concurrency, "concurrency", 0, "CPU workers (default: all cores)")
	_ = gen.MarkFlagRequired("out")
	cmd.AddCommand(gen)
	return cmd
}
