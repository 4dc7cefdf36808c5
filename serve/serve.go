// Package serve is attncap's HTTP captioning service: a trained model behind the API of
// Hugging Face's image-to-text task (so its clients work unchanged), with batching under load,
// bounded memory and a web page.
//
// Routes:
//
//	POST /caption     an image as the raw body (Content-Type image/jpeg|png|webp|bmp|gif),
//	                  multipart/form-data with field "image" (one or more), or JSON
//	                  {"inputs": "<base64>" | ["<base64>", …], "parameters": {"num_beams": k,
//	                  "max_new_tokens": n, "attention": true}}; parameters of the first two forms
//	                  go in the query string (?num_beams=3&attention=true). One image in → one
//	                  Caption object out; a list in → a list out, in order.
//	GET  /healthz     the process is up
//	GET  /readyz      the model is loaded and warmed (503 before)
//	GET  /v1/model    encoder, decoder, vocabulary size, image size, grid, backend, checkpoint
//	GET  /openapi.json  an OpenAPI 3 description of all of it
//	GET  /            the web page (package serve/web)
//
// Errors are JSON {"error": "…"}: 400 a broken image (the decoder's message) or body, 413 too
// large (bytes, pixels or images), 415 an unsupported Content-Type, 422 bad parameters, 429
// rate limited, 503 overloaded (with Retry-After). A request that fails leaves the service
// serving the next one.
package serve

import (
	_ "embed"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/serve/web"
	"github.com/go-chi/httprate"
)

// Options configure a Server. Zero values take DefaultOptions' values.
type Options struct {
	Beam         int           // beam width when a request names none (1: greedy)
	MaxBeam      int           // the largest num_beams accepted
	MaxBatch     int           // images per encoder + decoder call
	MaxWait      time.Duration // how long the first request of a batch waits for others to join
	QueueSize    int           // requests admitted at once (decoding, queued or running); more → 503
	MaxBodyBytes int64         // largest request body
	MaxPixels    int           // largest image (width × height), checked from its header
	MaxImages    int           // images per request
	RateLimit    int           // requests per client IP per RateWindow (0 or less: no limit; not defaulted)
	RateWindow   time.Duration //
	Checkpoint   string        // what /v1/model reports as the model's origin
	Backend      string        // what /v1/model reports as the backend
}

// DefaultOptions: beam 3 (up to 8), batches of 8 images gathered for at most 10 ms, 64 requests
// admitted, 20 MiB bodies, 50 megapixels, 16 images per request, 600 requests a minute per IP.
func DefaultOptions() Options {
	return Options{Beam: 3, MaxBeam: 8, MaxBatch: 8, MaxWait: 10 * time.Millisecond, QueueSize: 64,
		MaxBodyBytes: 20 << 20, MaxPixels: 50_000_000, MaxImages: 16, RateLimit: 600, RateWindow: time.Minute}
}

func (o Options) withDefaults() Options {
	d := DefaultOptions()
	setDefault(&o.Beam, d.Beam)
	setDefault(&o.MaxBeam, d.MaxBeam)
	setDefault(&o.MaxBatch, d.MaxBatch)
	setDefault(&o.MaxWait, d.MaxWait)
	setDefault(&o.QueueSize, d.QueueSize)
	setDefault(&o.MaxBodyBytes, d.MaxBodyBytes)
	setDefault(&o.MaxPixels, d.MaxPixels)
	setDefault(&o.MaxImages, d.MaxImages)
	setDefault(&o.RateWindow, d.RateWindow)
	return o
}

func setDefault[T int | int64 | time.Duration](v *T, d T) {
	if *v <= 0 {
		*v = d
	}
}

// Server captions images with one model. Requests are decoded and preprocessed concurrently in
// their handlers, then gathered into batches that one goroutine runs through the model.
type Server struct {
	m       *captioner.Model
	opts    Options
	slots   chan struct{} // admission: one per request being handled
	queue   chan *job     // to the batcher
	ready   atomic.Bool
	done    chan struct{}
	closing sync.Once
	batcher sync.WaitGroup
}

// New starts a server for m: it warms the model (compiles the encoder and the decoding step for
// every batch size at the default beam), then starts the batcher. Close stops it.
func New(m *captioner.Model, opts Options) (*Server, error) {
	opts = opts.withDefaults()
	if opts.Beam > opts.MaxBeam {
		return nil, fmt.Errorf("serve: default beam %d exceeds the largest allowed %d", opts.Beam, opts.MaxBeam)
	}
	s := &Server{m: m, opts: opts, slots: make(chan struct{}, opts.QueueSize),
		queue: make(chan *job, opts.QueueSize), done: make(chan struct{})}
	if err := s.warm(); err != nil {
		return nil, err
	}
	s.batcher.Add(1)
	go s.runBatches()
	s.ready.Store(true)
	return s, nil
}

// Close stops the batcher after the batch it is running; requests still queued get 503.
func (s *Server) Close() {
	s.closing.Do(func() {
		s.ready.Store(false)
		close(s.done)
		s.batcher.Wait()
	})
}

// Handler routes the API and the web page.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	caption := http.Handler(http.HandlerFunc(s.handleCaption))
	if s.opts.RateLimit > 0 {
		caption = httprate.LimitBy(s.opts.RateLimit, s.opts.RateWindow, httprate.KeyByIP,
			httprate.WithLimitHandler(func(w http.ResponseWriter, r *http.Request) {
				writeError(w, &httpError{status: http.StatusTooManyRequests, retryAfter: int(s.opts.RateWindow.Seconds()),
					msg: fmt.Sprintf("rate limited: more than %d requests in %s from %s; retry later", s.opts.RateLimit, s.opts.RateWindow, clientIP(r))})
			}))(caption)
	}
	mux.Handle("POST /caption", caption)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	mux.HandleFunc("GET /readyz", s.handleReady)
	mux.HandleFunc("GET /v1/model", s.handleModel)
	mux.HandleFunc("GET /openapi.json", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(openAPI)
	})
	mux.Handle("/", web.Handler())
	return recoverPanics(mux)
}

//go:embed openapi.json
var openAPI []byte

func (s *Server) handleReady(w http.ResponseWriter, _ *http.Request) {
	if !s.ready.Load() {
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"status": "not ready"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]string{"status": "ok"})
}

// ModelInfo is what GET /v1/model answers.
type ModelInfo struct {
	Encoder      string `json:"encoder"`
	Decoder      string `json:"decoder"`
	VocabSize    int    `json:"vocab_size"`
	ImageSize    int    `json:"image_size"`
	Grid         [2]int `json:"grid"`
	MaxNewTokens int    `json:"max_new_tokens"`
	Backend      string `json:"backend"`
	Checkpoint   string `json:"checkpoint"`
	Beam         int    `json:"beam"`
	MaxBeam      int    `json:"max_beam"`
	MaxBatch     int    `json:"max_batch"`
	MaxImages    int    `json:"max_images"`
	MaxBodyBytes int64  `json:"max_body_bytes"`
	MaxPixels    int    `json:"max_pixels"`
}

// Info describes the served model.
func (s *Server) Info() ModelInfo {
	c := s.m.Config
	h, w := c.GridDims()
	return ModelInfo{Encoder: c.Encoder, Decoder: c.DecoderName(), VocabSize: c.VocabSize, ImageSize: c.ImageSize, Grid: [2]int{h, w},
		MaxNewTokens: c.MaxLen - 1, Backend: s.opts.Backend, Checkpoint: s.opts.Checkpoint,
		Beam: s.opts.Beam, MaxBeam: s.opts.MaxBeam, MaxBatch: s.opts.MaxBatch, MaxImages: s.opts.MaxImages,
		MaxBodyBytes: s.opts.MaxBodyBytes, MaxPixels: s.opts.MaxPixels}
}

func (s *Server) handleModel(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, http.StatusOK, s.Info())
}

// recoverPanics answers a panic in a handler with a 500 JSON error instead of a dropped
// connection; the server goes on serving.
func recoverPanics(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() {
			if v := recover(); v != nil {
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				writeError(w, fmt.Errorf("%v", v))
			}
		}()
		next.ServeHTTP(w, r)
	})
}
