package main

import (
	"fmt"
	"io"
)

// streamsReport is what 'mpcload streams' prints (as JSON with --json).
type streamsReport struct {
	Asked        int    `json:"asked"`
	Opened       int    `json:"opened"`
	Failed       int    `json:"failed"`
	FailedSample string `json:"failed_sample,omitempty"`
	// Connected is the coordinator's count (mpc_devices_connected), Online
	// the devices ListDevices shows online, Ended the streams that ended
	// while held.
	Connected    int     `json:"connected"`
	Online       int     `json:"online"`
	Ended        int     `json:"ended_while_held"`
	EnrolSeconds float64 `json:"enrol_seconds"`
	OpenSeconds  float64 `json:"open_seconds"`
	// Idle is the coordinator before any stream, Held with the streams.
	Idle streamsMemory `json:"coordinator_idle"`
	Held streamsMemory `json:"coordinator_with_streams"`
	// PerStreamKiB is the coordinator's VmRSS with the streams over its
	// VmRSS idle, per stream; StreamsPerGiB the streams one GiB holds at
	// that rate on top of the idle coordinator.
	PerStreamKiB        float64 `json:"rss_per_stream_kib"`
	HeapPerStreamKiB    float64 `json:"heap_per_stream_kib"`
	GoroutinesPerStream float64 `json:"goroutines_per_stream"`
	StreamsPerGiB       int     `json:"streams_per_gib"`
	// Projected10kMiB is the coordinator's VmRSS at that rate with 10,000
	// streams (the target: under 1 GiB).
	Projected10kMiB float64 `json:"projected_rss_10000_streams_mib"`
	// OverallKiB is VmRSS with the streams over the streams, the idle
	// coordinator included; OverallPerGiB the streams per GiB at that rate.
	OverallKiB       float64   `json:"rss_over_streams_kib"`
	OverallPerGiB    int       `json:"streams_per_gib_idle_included"`
	ClientRSSKiB     int64     `json:"device_side_rss_kib"`
	LoadAverageStart []float64 `json:"load_average_start,omitempty"`
	LoadAverageEnd   []float64 `json:"load_average_end,omitempty"`
	Warnings         []string  `json:"warnings,omitempty"`
}

// streamsMemory is the coordinator's memory and goroutines at one moment.
type streamsMemory struct {
	memPoint
	Goroutines int `json:"goroutines"`
}

const gibKiB = 1 << 20

// compute derives the per-stream figures from the two memory readings.
func (rep *streamsReport) compute() {
	n := float64(rep.Connected)
	if n <= 0 || rep.Held.RSSKiB <= 0 {
		return
	}
	rep.PerStreamKiB = roundTo(float64(rep.Held.RSSKiB-rep.Idle.RSSKiB)/n, 0.1)
	rep.HeapPerStreamKiB = roundTo(float64(rep.Held.HeapKiB-rep.Idle.HeapKiB)/n, 0.1)
	rep.GoroutinesPerStream = roundTo(float64(rep.Held.Goroutines-rep.Idle.Goroutines)/n, 0.01)
	if rep.PerStreamKiB > 0 {
		rep.StreamsPerGiB = int(float64(gibKiB-rep.Idle.RSSKiB) / rep.PerStreamKiB)
		rep.Projected10kMiB = roundTo((float64(rep.Idle.RSSKiB)+10000*rep.PerStreamKiB)/1024, 0.1)
	}
	rep.OverallKiB = roundTo(float64(rep.Held.RSSKiB)/n, 0.1)
	rep.OverallPerGiB = int(gibKiB / rep.OverallKiB)
}

func (rep *streamsReport) print(w io.Writer) {
	fmt.Fprintf(w, "devices: %d written into the store in %.2fs; %d streams opened in %.2fs, %d failed\n",
		rep.Asked, rep.EnrolSeconds, rep.Opened, rep.OpenSeconds, rep.Failed)
	if rep.FailedSample != "" {
		fmt.Fprintf(w, "  first failure: %s\n", rep.FailedSample)
	}
	fmt.Fprintf(w, "held: the coordinator counts %d connected, ListDevices shows %d online, %d ended while held\n\n", rep.Connected, rep.Online, rep.Ended)
	fmt.Fprintf(w, "%-36s %12s %12s %12s %14s %11s\n", "coordinator", "VmRSS", "RssAnon", "VmHWM", "Go heap inuse", "goroutines")
	for _, m := range []streamsMemory{rep.Idle, rep.Held} {
		fmt.Fprintf(w, "%-36s %8.1f MiB %8.1f MiB %8.1f MiB %10.1f MiB %11d\n", m.When, mib(m.RSSKiB), mib(m.AnonKiB), mib(m.HWMKiB), mib(m.HeapKiB), m.Goroutines)
	}
	fmt.Fprintf(w, "\nper stream: %.1f KiB of VmRSS over the idle coordinator (Go heap %.1f KiB, %.2f goroutines)\n",
		rep.PerStreamKiB, rep.HeapPerStreamKiB, rep.GoroutinesPerStream)
	fmt.Fprintf(w, "projected: %d streams per GiB of VmRSS on top of the idle coordinator; 10,000 streams: %.1f MiB (target: under 1024 MiB)\n",
		rep.StreamsPerGiB, rep.Projected10kMiB)
	fmt.Fprintf(w, "idle coordinator included: %.1f KiB per stream, %d streams per GiB\n", rep.OverallKiB, rep.OverallPerGiB)
	fmt.Fprintf(w, "device side (this process, %d streams): %.1f MiB VmRSS\n", rep.Opened, mib(rep.ClientRSSKiB))
	printLoad(w, rep.LoadAverageStart, rep.LoadAverageEnd)
	for _, warn := range rep.Warnings {
		fmt.Fprintf(w, "WARNING: %s\n", warn)
	}
}
