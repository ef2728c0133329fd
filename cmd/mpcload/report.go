package main

import (
	"fmt"
	"io"
	"maps"
	"math"
	"runtime"
	"slices"
	"time"
)

// loadReport is what mpcload prints (as JSON with --json).
type loadReport struct {
	Shape   loadShape  `json:"shape"`
	Service loadStats  `json:"service"`
	Raw     *loadStats `json:"raw_tss_lib,omitempty"`
	// RawRuns are the raw baseline's signatures per second just before
	// the clients started and just after they stopped; Raw is both together.
	RawRuns []float64 `json:"raw_signatures_per_second_before_after,omitempty"`
	// Ratio is the service's signatures per second over raw tss-lib's.
	Ratio        float64           `json:"ratio_service_to_raw,omitempty"`
	ErrorsByCode map[string]int    `json:"errors_by_code"`
	ErrorSamples map[string]string `json:"error_samples,omitempty"`
	// Replay is the check that the coordinator kept the signatures it
	// returned: every request id that got a signature, asked again.
	Replay                loadReplay     `json:"replay"`
	Processes             []loadProcess  `json:"processes"`
	CoordinatorGoroutines loadGoroutines `json:"coordinator_goroutines"`
	// CoordinatorHeap is the coordinator's Go heap in use (from its
	// metrics), which tells a growing heap from memory the runtime keeps.
	CoordinatorHeap loadTrend `json:"coordinator_heap_inuse"`
	// CoordinatorHeapHeld is the heap memory the Go runtime holds from the
	// operating system (heap_sys - heap_released): in use, or free and not
	// returned yet.
	CoordinatorHeapHeld loadTrend `json:"coordinator_heap_held"`
	// SessionsInFlight is what the coordinator still ran after every call
	// had returned: stuck sessions.
	SessionsInFlight int            `json:"sessions_in_flight_after"`
	SignSessions     map[string]int `json:"sign_sessions_by_result"`
	LoadAverageStart []float64      `json:"load_average_start,omitempty"`
	LoadAverageEnd   []float64      `json:"load_average_end,omitempty"`
	Warnings         []string       `json:"warnings,omitempty"`
}

type loadShape struct {
	Parties             int    `json:"parties"`
	Threshold           int    `json:"threshold"`
	SignersPerSignature int    `json:"signers_per_signature"`
	Keys                int    `json:"keys"`
	Clients             int    `json:"clients"`
	Duration            string `json:"duration"`
}

// loadStats are one run's calls and latencies (of the successful calls).
type loadStats struct {
	Calls     int     `json:"calls"`
	OK        int     `json:"ok"`
	Failed    int     `json:"failed"`
	Wrong     int     `json:"wrong"`
	ElapsedMS float64 `json:"elapsed_ms"`
	PerSecond float64 `json:"signatures_per_second"`
	P50MS     float64 `json:"p50_ms"`
	P95MS     float64 `json:"p95_ms"`
	P99MS     float64 `json:"p99_ms"`
	MaxMS     float64 `json:"max_ms"`
}

type loadReplay struct {
	Checked    int `json:"checked"`
	Mismatched int `json:"mismatched"`
}

// loadProcess is one process's memory: its peak resident set (VmHWM) and
// the mean resident set of the first and last quarter of the samples.
type loadProcess struct {
	Name              string  `json:"name"`
	PID               int     `json:"pid"`
	PeakRSSKiB        int64   `json:"peak_rss_kib"`
	Samples           int     `json:"samples"`
	FirstQuarterKiB   int64   `json:"rss_first_quarter_kib"`
	LastQuarterKiB    int64   `json:"rss_last_quarter_kib"`
	TrendPercent      float64 `json:"rss_trend_percent"`
	MemoryNotMeasured bool    `json:"memory_not_measured,omitempty"`
	RSSSamplesKiB     []int64 `json:"rss_samples_kib,omitempty"`
	// Anon is the anonymous part of the resident set (RssAnon): heap and
	// stacks, without the pages of mapped files (BadgerDB maps its files).
	Anon loadTrend `json:"rss_anon"`
	// AnonTenths is the anonymous resident memory, the mean of each tenth
	// of the run: the shape of the trend (a warm-up, then flat or not).
	AnonTenths []int64 `json:"rss_anon_tenths_kib,omitempty"`
}

type loadGoroutines struct {
	First   int `json:"first"`
	Last    int `json:"last"`
	Max     int `json:"max"`
	Samples int `json:"samples"`
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }

// latencyStats are the percentiles of ds (nearest rank).
func latencyStats(ds []time.Duration) loadStats {
	var s loadStats
	if len(ds) == 0 {
		return s
	}
	sorted := slices.Clone(ds)
	slices.Sort(sorted)
	rank := func(q float64) time.Duration {
		i := int(math.Ceil(q*float64(len(sorted)))) - 1
		return sorted[min(max(i, 0), len(sorted)-1)]
	}
	s.P50MS, s.P95MS, s.P99MS, s.MaxMS = ms(rank(0.50)), ms(rank(0.95)), ms(rank(0.99)), ms(sorted[len(sorted)-1])
	return s
}

func (r *loadReport) print(w io.Writer) {
	sh := r.Shape
	fmt.Fprintf(w, "mpcload: %d-of-%d keys x %d, %d parties, %d clients, %s\n", sh.SignersPerSignature, sh.Parties, sh.Keys, sh.Parties, sh.Clients, sh.Duration)
	s := r.Service
	fmt.Fprintf(w, "service:      %d signatures in %.1f s = %.2f/s; latency p50 %.0f ms, p95 %.0f ms, p99 %.0f ms, max %.0f ms\n",
		s.OK, s.ElapsedMS/1000, s.PerSecond, s.P50MS, s.P95MS, s.P99MS, s.MaxMS)
	fmt.Fprintf(w, "  calls %d: ok %d, failed %d, wrong signatures %d (every signature verified independently)\n", s.Calls, s.OK, s.Failed, s.Wrong)
	if len(r.ErrorsByCode) == 0 {
		fmt.Fprintln(w, "  errors by code: none")
	} else {
		fmt.Fprintln(w, "  errors by code:")
		for _, c := range slices.Sorted(maps.Keys(r.ErrorsByCode)) {
			fmt.Fprintf(w, "    %-18s %d  (e.g. %q)\n", c, r.ErrorsByCode[c], r.ErrorSamples[c])
		}
	}
	fmt.Fprintf(w, "  lost: %d of %d request ids asked again did not return their signature\n", r.Replay.Mismatched, r.Replay.Checked)
	if r.Raw != nil {
		fmt.Fprintf(w, "raw tss-lib:  %d signatures in %.1f s = %.2f/s; latency p50 %.0f ms, p95 %.0f ms, p99 %.0f ms (in mpcload, same cores, %d concurrent, wrong %d)\n",
			r.Raw.OK, r.Raw.ElapsedMS/1000, r.Raw.PerSecond, r.Raw.P50MS, r.Raw.P95MS, r.Raw.P99MS, sh.Clients, r.Raw.Wrong)
		fmt.Fprintf(w, "  raw runs just before and just after the clients: %.2f/s and %.2f/s\n", r.RawRuns[0], r.RawRuns[len(r.RawRuns)-1])
		fmt.Fprintf(w, "ratio service/raw: %.2f (target >= 0.90)\n", r.Ratio)
	}
	fmt.Fprintln(w, "memory (peak = VmHWM; trends = mean of the first quarter of the samples -> of the last quarter):")
	for _, p := range r.Processes {
		if p.MemoryNotMeasured {
			fmt.Fprintf(w, "  %-12s not measured (no /proc)\n", p.Name)
			continue
		}
		fmt.Fprintf(w, "  %-12s peak %6.1f MiB   RSS %6.1f -> %6.1f MiB (%+.1f%%), of it anonymous %6.1f -> %6.1f MiB (%+.1f%%); %d samples\n",
			p.Name, mib(p.PeakRSSKiB), mib(p.FirstQuarterKiB), mib(p.LastQuarterKiB), p.TrendPercent, mib(p.Anon.FirstQuarter), mib(p.Anon.LastQuarter), p.Anon.Percent, p.Samples)
	}
	fmt.Fprintln(w, "  anonymous RSS by tenth of the run (MiB):")
	for _, p := range r.Processes {
		fmt.Fprintf(w, "    %-10s", p.Name)
		for _, v := range p.AnonTenths {
			fmt.Fprintf(w, " %5.1f", mib(v))
		}
		fmt.Fprintln(w)
	}
	if h, held := r.CoordinatorHeap, r.CoordinatorHeapHeld; h.Samples > 0 {
		fmt.Fprintf(w, "  coordinator Go heap in use %.1f -> %.1f MiB (%+.1f%%); held from the OS %.1f -> %.1f MiB (%+.1f%%)\n",
			mib(h.FirstQuarter), mib(h.LastQuarter), h.Percent, mib(held.FirstQuarter), mib(held.LastQuarter), held.Percent)
	}
	g := r.CoordinatorGoroutines
	fmt.Fprintf(w, "coordinator goroutines: %d at start, %d at end, max %d (%d samples)\n", g.First, g.Last, g.Max, g.Samples)
	fmt.Fprintf(w, "sessions in flight after the run (stuck): %d; signing sessions by result: %v\n", r.SessionsInFlight, r.SignSessions)
	if r.LoadAverageStart != nil {
		fmt.Fprintf(w, "load average: %v at start, %v at end (%d cores)\n", r.LoadAverageStart, r.LoadAverageEnd, runtime.NumCPU())
	}
	for _, warn := range r.Warnings {
		fmt.Fprintln(w, "warning:", warn)
	}
}

func mib(kib int64) float64 { return float64(kib) / 1024 }
