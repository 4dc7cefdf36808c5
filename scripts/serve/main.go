// Command serve runs attncap's captioning service (package serve): the Hugging Face
// image-to-text API on POST /caption, health and model routes, and a web page at /.
//
//	go run ./scripts/serve -checkpoint runs/shapes-tiny [-addr 127.0.0.1:8080] [-beam 3]
//	go run ./scripts/serve -checkpoint hf:OWNER/REPO[@REV]
//	go run ./scripts/serve -checkpoint runs/shapes-tiny -loadtest 1,8,32 -requests 200 -images DIR [-broken 0.3]
//
// -checkpoint random:resnet50 serves an untrained ResNet-50 captioner (speed measurements).
// SIGINT/SIGTERM stop it gracefully: in-flight requests are answered first. -loadtest starts the
// service on a loopback port, sends the images of -images DIR (plus broken files, -broken) at
// each concurrency, and prints a table next to the offline decode.Images throughput.
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/attncap/attncap/bench"
	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/serve"
	"github.com/gomlx/compute"
)

func main() {
	d := serve.DefaultOptions()
	checkpoint := flag.String("checkpoint", "", "run folder, model folder, hf:OWNER/REPO[@REV], or random:resnet50")
	addr := flag.String("addr", "127.0.0.1:8080", "address to listen on")
	backendName := flag.String("backend", "", "go (default), xla:cuda, … (default: $GOMLX_BACKEND or go)")
	flag.IntVar(&d.Beam, "beam", d.Beam, "beam width when a request names none (1: greedy)")
	flag.IntVar(&d.MaxBeam, "max-beam", d.MaxBeam, "largest num_beams a request may ask for")
	flag.IntVar(&d.MaxBatch, "max-batch", d.MaxBatch, "images per encoder + decoder call")
	flag.DurationVar(&d.MaxWait, "max-wait", d.MaxWait, "how long a request waits for others to join its batch")
	flag.IntVar(&d.QueueSize, "queue", d.QueueSize, "requests handled at once; more are answered 503")
	flag.Int64Var(&d.MaxBodyBytes, "max-body", d.MaxBodyBytes, "largest request body in bytes")
	flag.IntVar(&d.MaxPixels, "max-pixels", d.MaxPixels, "largest image (width × height)")
	flag.IntVar(&d.MaxImages, "max-images", d.MaxImages, "images per request")
	flag.IntVar(&d.RateLimit, "rate", d.RateLimit, "requests per client IP per -rate-window (0: no limit)")
	flag.DurationVar(&d.RateWindow, "rate-window", d.RateWindow, "window of -rate")
	loadtest := flag.String("loadtest", "", "comma-separated concurrencies: run a load test on loopback instead of serving")
	requests := flag.Int("requests", 200, "with -loadtest: requests per concurrency")
	images := flag.String("images", "", "with -loadtest: folder of images to send")
	broken := flag.Float64("broken", 0, "with -loadtest: share of requests that send broken or unsupported files")
	flag.Parse()
	if *checkpoint == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/serve -checkpoint RUN|MODEL_DIR|hf:OWNER/REPO [-addr 127.0.0.1:8080] [-beam 3]")
		os.Exit(2)
	}
	backend, desc, err := captioner.NewBackend(*backendName)
	check(err)
	m, err := openModel(backend, *checkpoint)
	check(err)
	d.Checkpoint, d.Backend = *checkpoint, desc
	if *loadtest != "" {
		d.RateLimit = 0 // every request comes from 127.0.0.1
		check(runLoadTest(m, d, *loadtest, *requests, *images, *broken))
		return
	}
	fmt.Fprintf(os.Stderr, "backend: %s\nwarming %s…\n", desc, *checkpoint)
	srv, err := serve.New(m, d)
	check(err)
	check(listen(srv, *addr))
}

func openModel(backend compute.Backend, checkpoint string) (*captioner.Model, error) {
	if checkpoint == "random:resnet50" {
		return bench.UntrainedCaptioner(backend, captioner.DecoderLSTM, "")
	}
	return captioner.OpenModel(backend, checkpoint)
}

// listen serves until SIGINT or SIGTERM, then finishes in-flight requests (up to 30 s).
func listen(srv *serve.Server, addr string) error {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "serving on http://%s (POST /caption, page at /)\n", ln.Addr())
	err = srv.Serve(ctx, ln, 30*time.Second)
	fmt.Fprintln(os.Stderr, "stopped")
	return err
}

func runLoadTest(m *captioner.Model, opts serve.Options, levels string, n int, dir string, broken float64) error {
	if dir == "" {
		return fmt.Errorf("-loadtest needs -images DIR")
	}
	reqs, paths, err := serve.LoadRequests(dir, broken)
	if err != nil {
		return err
	}
	srv, err := serve.New(m, opts)
	if err != nil {
		return err
	}
	defer srv.Close()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	go func() { _ = http.Serve(ln, srv.Handler()) }()
	url := "http://" + ln.Addr().String() + "/caption"
	fmt.Printf("beam %d, batches of at most %d; offline = decode.Images on the same images measured just before each row\n\n", opts.Beam, opts.MaxBatch)
	fmt.Println("| concurrency | requests | answers | no answer | req/s | p50 / p95 / p99 ms | peak RSS MiB | offline img/s | offline 1 image ms |")
	fmt.Println("|---|---|---|---|---|---|---|---|---|")
	for _, l := range strings.Split(levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(l))
		if err != nil || c < 1 {
			return fmt.Errorf("-loadtest %q: want comma-separated positive concurrencies", levels)
		}
		offline, err := serve.OfflineThroughput(m, paths, opts)
		if err != nil {
			return err
		}
		alone, err := serve.OfflineLatency(m, paths[0], opts)
		if err != nil {
			return err
		}
		row := serve.LoadTest(context.Background(), url, reqs, c, n, 5*time.Minute)
		row.PeakRSSMiB = bench.MaxRSSMiB()
		fmt.Printf("%s %.1f | %.0f |\n", row, offline, float64(alone.Microseconds())/1000)
	}
	resp, err := http.Get("http://" + ln.Addr().String() + "/readyz")
	if err != nil {
		return err
	}
	resp.Body.Close()
	fmt.Printf("\nafter the load: /readyz %s\n", resp.Status)
	return nil
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "serve:", err)
		os.Exit(1)
	}
}
