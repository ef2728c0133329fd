package main

import (
	"errors"
	"fmt"
	"io"
	"net/url"
	"runtime"
	"strings"

	"github.com/spf13/pflag"
)

// storeReport is what 'mpcload store' prints (as JSON with --json).
type storeReport struct {
	Asked    storeShape `json:"asked"`
	Stored   storeShape `json:"stored"`
	Database string     `json:"database"`
	// DatabaseMiB is the database's size on disk once filled.
	DatabaseMiB float64    `json:"database_mib"`
	Fill        []fillStep `json:"fill"`
	Calls       []callStat `json:"calls"`
	// KeyAnswer is what the last GetKey returned: holders by name (read
	// from the device records), attestations and address.
	KeyAnswer        keyAnswer  `json:"get_key_answer"`
	Audit            auditCheck `json:"audit_chain"`
	Memory           []memPoint `json:"coordinator_memory"`
	LoadAverageStart []float64  `json:"load_average_start,omitempty"`
	LoadAverageEnd   []float64  `json:"load_average_end,omitempty"`
	Warnings         []string   `json:"warnings,omitempty"`
}

type storeShape struct {
	Keys    int `json:"keys"`
	Devices int `json:"devices"`
	Audit   int `json:"audit_entries"`
}

// fillStep is one bulk write: its records made and copied.
type fillStep struct {
	What    string  `json:"what"`
	Records int     `json:"records"`
	Seconds float64 `json:"seconds"`
}

// callStat is one call repeated: its times as the client saw them, and the
// items and bytes (protobuf) of its last answer.
type callStat struct {
	Name     string  `json:"name"`
	Repeats  int     `json:"repeats"`
	MedianMS float64 `json:"median_ms"`
	MinMS    float64 `json:"min_ms"`
	MaxMS    float64 `json:"max_ms"`
	Items    int     `json:"items"`
	Bytes    int     `json:"bytes"`
}

type keyAnswer struct {
	ID           string   `json:"id"`
	Holders      []string `json:"holders"`
	Attestations int      `json:"attestations"`
	Ethereum     string   `json:"ethereum"`
}

// auditCheck is the export and verification of the whole chain.
type auditCheck struct {
	OK bool `json:"ok"`
	// Height is the entries the chain must hold: those written, and those
	// the measurements appended.
	Height   uint64  `json:"want_entries"`
	Verified int     `json:"verified_entries"`
	Head     string  `json:"head"`
	Seconds  float64 `json:"export_and_verify_seconds"`
	Broken   string  `json:"broken,omitempty"`
	// DirectAppendKept: the chain holds the store's last direct append
	// at its sequence number, with its hash.
	DirectAppendKept bool `json:"direct_append_kept"`
}

// memPoint is the coordinator's memory at one moment, in KiB.
type memPoint struct {
	When    string `json:"when"`
	RSSKiB  int64  `json:"vm_rss_kib"`
	AnonKiB int64  `json:"rss_anon_kib"`
	HWMKiB  int64  `json:"vm_hwm_kib"`
	HeapKiB int64  `json:"go_heap_inuse_kib"`
}

func (rep *storeReport) print(w io.Writer) {
	fmt.Fprintf(w, "database: %s, %.1f MiB once filled\n", rep.Database, rep.DatabaseMiB)
	fmt.Fprintf(w, "stored: %d keys, %d devices, %d audit entries\n", rep.Stored.Keys, rep.Stored.Devices, rep.Stored.Audit)
	for _, f := range rep.Fill {
		fmt.Fprintf(w, "  wrote %d %s in %.2fs\n", f.Records, f.What, f.Seconds)
	}
	fmt.Fprintf(w, "\n%-62s %7s %11s %11s %11s %8s %11s\n", "call (over gRPC with the admin token unless direct)", "repeats", "median", "min", "max", "items", "bytes")
	for _, c := range rep.Calls {
		fmt.Fprintf(w, "%-62s %7d %9.2fms %9.2fms %9.2fms %8d %11d\n", c.Name, c.Repeats, c.MedianMS, c.MinMS, c.MaxMS, c.Items, c.Bytes)
	}
	if k := rep.KeyAnswer; k.ID != "" {
		fmt.Fprintf(w, "GetKey answered key %s: holders %s, %d attestations, %s\n", k.ID, strings.Join(k.Holders, ", "), k.Attestations, k.Ethereum)
	}
	a := rep.Audit
	if a.OK {
		fmt.Fprintf(w, "\naudit chain: %d entries exported and verified in %.1fs: chain intact, head %s\n", a.Verified, a.Seconds, a.Head)
	} else {
		fmt.Fprintf(w, "\naudit chain: BROKEN after %d entries: %s\n", a.Verified, a.Broken)
	}
	fmt.Fprintf(w, "\n%-32s %12s %12s %12s %14s\n", "coordinator memory", "VmRSS", "RssAnon", "VmHWM", "Go heap inuse")
	for _, p := range rep.Memory {
		fmt.Fprintf(w, "%-32s %8.1f MiB %8.1f MiB %8.1f MiB %10.1f MiB\n", p.When, mib(p.RSSKiB), mib(p.AnonKiB), mib(p.HWMKiB), mib(p.HeapKiB))
	}
	printLoad(w, rep.LoadAverageStart, rep.LoadAverageEnd)
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
}

func printLoad(w io.Writer, start, end []float64) {
	if len(start) == 3 && len(end) == 3 {
		fmt.Fprintf(w, "\nload average (1, 5, 15 min): %.2f %.2f %.2f at the start, %.2f %.2f %.2f at the end (%d cores)\n",
			start[0], start[1], start[2], end[0], end[1], end[2], runtime.NumCPU())
	}
}

// printReport prints a report as text, or as JSON.
func printReport(w io.Writer, asJSON bool, rep interface{ print(io.Writer) }) error {
	if asJSON {
		return printJSON(w, rep)
	}
	rep.print(w)
	return nil
}

// registerRunFlags adds the flags the subcommands share with the load run.
func registerRunFlags(f *pflag.FlagSet, binDir, dir, logLevel, logFormat *string, asJSON *bool, bins string) {
	f.StringVar(binDir, "bin-dir", "", "directory holding "+bins+" (default: build it)")
	f.StringVar(dir, "dir", "", "directory for the run's data and logs, kept afterwards (default: a temporary directory, removed unless the run fails)")
	f.StringVar(logLevel, "log-level", "warn", "log level of the coordinator")
	f.StringVar(logFormat, "log-format", "text", "log format of the coordinator: text or json")
	f.BoolVar(asJSON, "json", false, "machine-readable JSON output")
}

// checkStoreURL checks --store: empty, or a postgres:// URL without a
// password (the coordinator refuses one: the password comes from
// PGPASSWORD or PGPASSFILE, which mpcload passes on).
func checkStoreURL(s string) error {
	if s == "" {
		return nil
	}
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return errors.New("--store: want a postgres:// URL, e.g. postgres://mpcsign@db.internal/mpcload")
	}
	if _, ok := u.User.Password(); ok || u.Query().Has("password") {
		return errors.New("--store: the URL holds a password: give it in PGPASSWORD or a password file (PGPASSFILE)")
	}
	return nil
}
