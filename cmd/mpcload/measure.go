package main

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
)

// loadAverage is /proc/loadavg's three figures (nil where there is none).
func loadAverage() []float64 {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return nil
	}
	var a [3]float64
	if _, err := fmt.Sscan(string(b), &a[0], &a[1], &a[2]); err != nil {
		return nil
	}
	return a[:]
}

// procMem is a process's memory from /proc/PID/status, in KiB: resident
// now (VmRSS), of which anonymous (RssAnon: heap and stacks, not mapped
// files), and the peak (VmHWM).
type procMem struct {
	rss, anon, hwm int64
}

// procStatus reads a process's memory; ok is false where there is no /proc.
func procStatus(pid int) (m procMem, ok bool) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return m, false
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, found := strings.Cut(sc.Text(), ":")
		var v int64
		if !found {
			continue
		}
		if _, err := fmt.Sscan(value, &v); err != nil {
			continue
		}
		switch name {
		case "VmRSS":
			m.rss, ok = v, true
		case "RssAnon":
			m.anon = v
		case "VmHWM":
			m.hwm = v
		}
	}
	return m, ok
}

// loadTrend compares the mean of the first quarter of a series of samples
// with the mean of the last quarter.
type loadTrend struct {
	Samples      int     `json:"samples"`
	FirstQuarter int64   `json:"first_quarter_kib"`
	LastQuarter  int64   `json:"last_quarter_kib"`
	Percent      float64 `json:"trend_percent"`
}

func trendOf(v []int64) loadTrend {
	tr := loadTrend{Samples: len(v)}
	if len(v) == 0 {
		return tr
	}
	q := max(len(v)/4, 1)
	tr.FirstQuarter, tr.LastQuarter = mean(v[:q]), mean(v[len(v)-q:])
	if tr.FirstQuarter > 0 {
		tr.Percent = math.Round(1000*float64(tr.LastQuarter-tr.FirstQuarter)/float64(tr.FirstQuarter)) / 10
	}
	return tr
}

// sampler records each process's resident memory and the coordinator's
// goroutines at a fixed interval.
type sampler struct {
	procs       []*loadProc
	metricsAddr string
	quit        chan struct{}
	done        chan struct{}
	rss, anon   [][]int64
	goroutines  []int
	heap, held  []int64 // KiB
}

// samples is what a sampler recorded, with each process's peak.
type samples struct {
	rss, anon  [][]int64
	peak       []int64
	goroutines loadGoroutines
	heap, held loadTrend
}

func startSampler(ctx context.Context, procs []*loadProc, metricsAddr string, every time.Duration) *sampler {
	s := &sampler{procs: procs, metricsAddr: metricsAddr, quit: make(chan struct{}), done: make(chan struct{}), rss: make([][]int64, len(procs)), anon: make([][]int64, len(procs))}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			s.take(ctx)
			select {
			case <-s.quit:
				s.take(ctx)
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *sampler) take(ctx context.Context) {
	for i, p := range s.procs {
		if m, ok := procStatus(p.cmd.Process.Pid); ok {
			s.rss[i] = append(s.rss[i], m.rss)
			s.anon[i] = append(s.anon[i], m.anon)
		}
	}
	if m, err := scrapeMetrics(ctx, s.metricsAddr); err == nil {
		if v, ok := m["go_goroutines"]; ok && len(v) > 0 {
			s.goroutines = append(s.goroutines, int(v[0].value))
		}
		if v, ok := m["go_memstats_heap_inuse_bytes"]; ok && len(v) > 0 {
			s.heap = append(s.heap, int64(v[0].value)/1024)
		}
		if sys, rel := m["go_memstats_heap_sys_bytes"], m["go_memstats_heap_released_bytes"]; len(sys) > 0 && len(rel) > 0 {
			s.held = append(s.held, int64(sys[0].value-rel[0].value)/1024)
		}
	}
}

// stop takes a last sample and reads every process's peak.
func (s *sampler) stop() samples {
	close(s.quit)
	<-s.done
	out := samples{rss: s.rss, anon: s.anon, heap: trendOf(s.heap), held: trendOf(s.held)}
	for _, p := range s.procs {
		m, _ := procStatus(p.cmd.Process.Pid)
		out.peak = append(out.peak, m.hwm)
	}
	if g := s.goroutines; len(g) > 0 {
		out.goroutines = loadGoroutines{First: g[0], Last: g[len(g)-1], Max: slices.Max(g), Samples: len(g)}
	}
	return out
}

func (s samples) processes(procs []*loadProc) []loadProcess {
	var out []loadProcess
	for i, p := range procs {
		tr := trendOf(s.rss[i])
		out = append(out, loadProcess{Name: p.name, PID: p.cmd.Process.Pid, PeakRSSKiB: s.peak[i], Samples: tr.Samples,
			FirstQuarterKiB: tr.FirstQuarter, LastQuarterKiB: tr.LastQuarter, TrendPercent: tr.Percent,
			MemoryNotMeasured: tr.Samples == 0, RSSSamplesKiB: s.rss[i], Anon: trendOf(s.anon[i]), AnonTenths: tenths(s.anon[i])})
	}
	return out
}

// tenths are the means of ten consecutive parts of v (fewer for a short v).
func tenths(v []int64) []int64 {
	var out []int64
	parts := min(10, len(v))
	for i := range parts {
		out = append(out, mean(v[i*len(v)/parts:(i+1)*len(v)/parts]))
	}
	return out
}

func mean(v []int64) int64 {
	var sum int64
	for _, x := range v {
		sum += x
	}
	return sum / int64(len(v))
}

// metricSample is one line of the Prometheus text format.
type metricSample struct {
	labels map[string]string
	value  float64
}

type metricSet map[string][]metricSample

// sum adds the samples of name whose labels include want.
func (m metricSet) sum(name string, want map[string]string) float64 {
	var total float64
	for _, s := range m[name] {
		ok := true
		for k, v := range want {
			ok = ok && s.labels[k] == v
		}
		if ok {
			total += s.value
		}
	}
	return total
}

var metricLineRE = regexp.MustCompile(`^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)`)
var metricLabelRE = regexp.MustCompile(`([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"`)

// scrapeMetrics reads the coordinator's /metrics (the text format).
func scrapeMetrics(ctx context.Context, addr string) (metricSet, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/metrics", nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, errors.New("metrics: " + resp.Status)
	}
	m := metricSet{}
	sc := bufio.NewScanner(io.LimitReader(resp.Body, 16<<20))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		mm := metricLineRE.FindStringSubmatch(line)
		if mm == nil {
			continue
		}
		v, err := strconv.ParseFloat(mm[3], 64)
		if err != nil {
			continue
		}
		s := metricSample{labels: map[string]string{}, value: v}
		for _, l := range metricLabelRE.FindAllStringSubmatch(mm[2], -1) {
			s.labels[l[1]] = l[2]
		}
		m[mm[1]] = append(m[mm[1]], s)
	}
	return m, sc.Err()
}
