package serve

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
)

// LoadRequest is one request body a load test sends (POST /caption with Content-Type).
type LoadRequest struct {
	ContentType string
	Body        []byte
}

// LoadResult summarises a load test: requests sent, answers by HTTP status, failures to get any
// answer, throughput and latency percentiles (milliseconds), and the process's peak resident
// memory (MiB), which the caller fills in (bench.MaxRSSMiB).
type LoadResult struct {
	Concurrency, Requests int
	ByStatus              map[int]int
	Failed                int // no HTTP answer (connection refused, reset, timeout)
	Seconds               float64
	RPS                   float64
	P50, P95, P99, Max    float64
	PeakRSSMiB            float64 // set by the caller
}

// LoadTest sends n requests to url (cycling through reqs) from concurrency workers, each request
// bounded by timeout, and measures the answers. It stops early when ctx ends.
func LoadTest(ctx context.Context, url string, reqs []LoadRequest, concurrency, n int, timeout time.Duration) LoadResult {
	client := &http.Client{Timeout: timeout}
	res := LoadResult{Concurrency: concurrency, Requests: n, ByStatus: map[int]int{}}
	latencies := make([]float64, 0, n)
	var mu sync.Mutex
	next := make(chan int)
	go func() {
		defer close(next)
		for i := range n {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	start := time.Now()
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				r := reqs[i%len(reqs)]
				t0 := time.Now()
				status := post(ctx, client, url, r)
				d := float64(time.Since(t0).Microseconds()) / 1000
				mu.Lock()
				if status == 0 {
					res.Failed++
				} else {
					res.ByStatus[status]++
				}
				latencies = append(latencies, d)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	res.Seconds = time.Since(start).Seconds()
	res.RPS = float64(len(latencies)) / res.Seconds
	sort.Float64s(latencies)
	res.P50, res.P95, res.P99 = percentile(latencies, 50), percentile(latencies, 95), percentile(latencies, 99)
	if len(latencies) > 0 {
		res.Max = latencies[len(latencies)-1]
	}
	return res
}

// post sends one request and returns its status (0: no answer), reading the whole answer.
func post(ctx context.Context, client *http.Client, url string, r LoadRequest) int {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(r.Body))
	if err != nil {
		return 0
	}
	req.Header.Set("Content-Type", r.ContentType)
	resp, err := client.Do(req)
	if err != nil {
		return 0
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

// percentile of sorted values, nearest rank.
func percentile(sorted []float64, p float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(float64(len(sorted))*p/100+0.5) - 1
	return sorted[max(0, min(i, len(sorted)-1))]
}

// String is one table row: concurrency, requests, statuses, errors, req/s, p50/p95/p99, memory.
func (r LoadResult) String() string {
	var codes []int
	for c := range r.ByStatus {
		codes = append(codes, c)
	}
	sort.Ints(codes)
	var parts []string
	for _, c := range codes {
		parts = append(parts, fmt.Sprintf("%d×%d", r.ByStatus[c], c))
	}
	return fmt.Sprintf("| %d | %d | %s | %d | %.1f | %.0f / %.0f / %.0f | %.0f |", r.Concurrency, r.Requests,
		strings.Join(parts, " "), r.Failed, r.RPS, r.P50, r.P95, r.P99, r.PeakRSSMiB)
}

// LoadRequests reads the images of dir (JPEG, PNG, WebP, BMP, GIF; sorted by name) as raw-body
// requests, and returns the image paths too. With broken > 0 that share of the requests are
// bad inputs a server must answer with a 4xx: a truncated JPEG, bytes that are no image, a text
// body, and an image whose header declares 10⁵×10⁵ pixels.
func LoadRequests(dir string, broken float64) ([]LoadRequest, []string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, nil, err
	}
	var good []LoadRequest
	var paths []string
	for _, e := range entries {
		ext := strings.ToLower(filepath.Ext(e.Name()))
		ct := map[string]string{".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png", ".webp": "image/webp", ".bmp": "image/bmp", ".gif": "image/gif"}[ext]
		if e.IsDir() || ct == "" {
			continue
		}
		p := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(p)
		if err != nil {
			return nil, nil, err
		}
		good, paths = append(good, LoadRequest{ct, data}), append(paths, p)
	}
	if len(good) == 0 {
		return nil, nil, fmt.Errorf("load test: no JPEG, PNG, WebP, BMP or GIF images in %s", dir)
	}
	if broken <= 0 {
		return good, paths, nil
	}
	bad := []LoadRequest{
		{"image/jpeg", good[0].Body[:len(good[0].Body)/2]},
		{"image/png", []byte("these bytes are not an image at all")},
		{"text/plain", []byte("a caption, not an image")},
		{"image/png", pngHeader(100_000, 100_000)},
	}
	var mixed []LoadRequest
	for i := 0; len(mixed) < 4*len(good)+len(bad); i++ {
		if float64(i%100) < broken*100 {
			mixed = append(mixed, bad[i%len(bad)])
		} else {
			mixed = append(mixed, good[i%len(good)])
		}
	}
	return mixed, paths, nil
}

// pngHeader is a PNG signature and IHDR chunk declaring a w×h RGB image, with no pixel data.
func pngHeader(w, h uint32) []byte {
	ihdr := make([]byte, 17)
	copy(ihdr, "IHDR")
	binary.BigEndian.PutUint32(ihdr[4:], w)
	binary.BigEndian.PutUint32(ihdr[8:], h)
	ihdr[12], ihdr[13] = 8, 2 // 8-bit RGB
	out := []byte("\x89PNG\r\n\x1a\n")
	out = binary.BigEndian.AppendUint32(out, 13)
	out = append(out, ihdr...)
	return binary.BigEndian.AppendUint32(out, crc32.ChecksumIEEE(ihdr))
}

// OfflineThroughput is decode.Images' images/s on paths with the server's beam and batch size
// (after one warm-up batch): what batching under load should approach.
func OfflineThroughput(m *captioner.Model, paths []string, opts Options) (float64, error) {
	opts = opts.withDefaults()
	dec := decode.Options{Beam: opts.Beam, SkipAttention: true}
	if _, err := decode.Images(m, paths[:min(len(paths), opts.MaxBatch)], dec, opts.MaxBatch, nil); err != nil {
		return 0, err
	}
	start := time.Now()
	if _, err := decode.Images(m, paths, dec, opts.MaxBatch, nil); err != nil {
		return 0, err
	}
	return float64(len(paths)) / time.Since(start).Seconds(), nil
}

// OfflineLatency is the median time decode.Images takes for one image alone (of 5 runs after
// a warm-up), with the server's beam: what a lone request should take, plus HTTP and queueing.
func OfflineLatency(m *captioner.Model, path string, opts Options) (time.Duration, error) {
	opts = opts.withDefaults()
	dec := decode.Options{Beam: opts.Beam, SkipAttention: true}
	var times []float64
	for i := range 6 {
		start := time.Now()
		if _, err := decode.Images(m, []string{path}, dec, 1, nil); err != nil {
			return 0, err
		}
		if i > 0 {
			times = append(times, float64(time.Since(start)))
		}
	}
	sort.Float64s(times)
	return time.Duration(times[len(times)/2]), nil
}
