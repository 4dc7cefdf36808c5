package serve

import (
	"errors"
	"fmt"
	"math"
	"net/http"
	"strings"
	"time"

	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/datasets"
	"github.com/gomlx/gomlx/core/tensors"
)

// job is one request's preprocessed images on their way through the batcher.
type job struct {
	inputs   [][]float32 // S×S×3 each
	decode   decode.Options
	queued   time.Time
	response chan jobResult // buffered: the batcher never blocks on it
}

type jobResult struct {
	captions     []decode.Caption
	queue, model time.Duration
	err          error
}

// Caption is one image's answer (with num_return_sequences n > 1, one of its n).
type Caption struct {
	GeneratedText string      `json:"generated_text"`
	Tokens        []string    `json:"tokens"`
	LogProb       *float64    `json:"log_prob"` // null only if not finite
	Score         *float64    `json:"score"`    // log_prob / L^length_penalty; null only if not finite
	Finished      bool        `json:"finished"`
	Limit         string      `json:"limit,omitempty"`     // the length limit an unfinished caption hit
	Attention     [][]float32 `json:"attention,omitempty"` // per token, h·w weights row-major over Grid
	Grid          [2]int      `json:"grid"`
	TimeMS        Timings     `json:"time_ms"`
}

// Timings of a request in milliseconds: waiting for its batch, the batch's model call, all.
type Timings struct {
	Queue float64 `json:"queue"`
	Model float64 `json:"model"`
	Total float64 `json:"total"`
}

// handleCaption is POST /caption: admit, parse, decode the images, queue, answer.
func (s *Server) handleCaption(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	select {
	case s.slots <- struct{}{}:
		defer func() { <-s.slots }()
	default:
		writeError(w, &httpError{status: http.StatusServiceUnavailable, retryAfter: 1,
			msg: fmt.Sprintf("overloaded: %d requests are being handled; retry in a second", s.opts.QueueSize)})
		return
	}
	req, err := s.parseRequest(w, r)
	if err != nil {
		writeError(w, err)
		return
	}
	j, err := s.prepare(req)
	if err != nil {
		writeError(w, err)
		return
	}
	res, err := s.submit(j)
	if err != nil {
		writeError(w, err)
		return
	}
	out := s.answers(res, req.params.Attention != nil && *req.params.Attention, time.Since(start))
	// As Hugging Face answers: an image gets one caption object, or its list of
	// num_return_sequences; a list of images gets a list of those.
	perImage := make([]any, len(out))
	for i, list := range out {
		perImage[i] = list[0]
		if req.params.NumReturnSequences > 1 {
			perImage[i] = list
		}
	}
	if req.list {
		writeJSON(w, http.StatusOK, perImage)
	} else {
		writeJSON(w, http.StatusOK, perImage[0])
	}
}

// prepare decodes and preprocesses a request's images (pixel limit checked from each header
// first) and sets its decoding options.
func (s *Server) prepare(req *captionRequest) (*job, error) {
	j := &job{response: make(chan jobResult, 1), decode: decode.Options{Beam: s.opts.Beam, SkipAttention: true}}
	p := req.params
	if p.NumBeams != nil {
		j.decode.Beam = *p.NumBeams
	}
	if p.MaxNewTokens != nil {
		j.decode.MaxLen = *p.MaxNewTokens + 1 // MaxLen counts <start>; a caption cut at the limit has no <end>
	}
	if p.Attention != nil && *p.Attention {
		j.decode.SkipAttention = false
	}
	j.decode.Controls = p.Controls
	opts := s.m.ImageOptions()
	opts.MaxPixels = s.opts.MaxPixels
	j.inputs = make([][]float32, len(req.images))
	err := datasets.ParallelFor(len(req.images), func(i int) error {
		img, err := datasets.DecodeImageFor(req.names[i], req.images[i], opts)
		if err != nil {
			// The decoder's message, named by where the image was in the request.
			msg := strings.TrimPrefix(err.Error(), "image ")
			if errors.Is(err, datasets.ErrTooLarge) {
				return statusError(http.StatusRequestEntityTooLarge, "%s", msg)
			}
			return statusError(http.StatusBadRequest, "%s", msg)
		}
		j.inputs[i] = datasets.PreprocessImage(img, opts)
		return nil
	})
	return j, err
}

// submit queues a job and waits for its captions.
func (s *Server) submit(j *job) (jobResult, error) {
	j.queued = time.Now()
	select {
	case <-s.done:
		return jobResult{}, &httpError{status: http.StatusServiceUnavailable, retryAfter: 5, msg: "shutting down"}
	case s.queue <- j:
	}
	select {
	case res := <-j.response:
		return res, res.err
	case <-s.done:
		return jobResult{}, &httpError{status: http.StatusServiceUnavailable, retryAfter: 5, msg: "shutting down"}
	}
}

// answers turns decoded captions into the API's objects.
func (s *Server) answers(res jobResult, attention bool, total time.Duration) [][]Caption {
	h, w := s.m.Config.GridDims()
	out := make([][]Caption, len(res.captions))
	for i, best := range res.captions {
		for _, c := range append([]decode.Caption{best}, best.Alternatives...) {
			a := Caption{GeneratedText: strings.Join(c.Words, " "), Tokens: c.Words, Finished: c.Finished, Limit: c.Limit, Grid: [2]int{h, w},
				TimeMS: Timings{Queue: ms(res.queue), Model: ms(res.model), Total: ms(total)}}
			if a.Tokens == nil {
				a.Tokens = []string{}
			}
			a.LogProb, a.Score = finite(c.LogProb), finite(c.Score)
			if attention {
				a.Attention = c.Attention
			}
			out[i] = append(out[i], a)
		}
	}
	return out
}

// finite is x, or nil (JSON null) when it is not finite.
func finite(x float64) *float64 {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return nil
	}
	return &x
}

func ms(d time.Duration) float64 { return math.Round(float64(d.Microseconds())/10) / 100 }

// runBatches is the batcher: it takes the first queued job, gathers more for up to MaxWait or
// until MaxBatch images, and runs them.
func (s *Server) runBatches() {
	defer s.batcher.Done()
	for {
		var first *job
		select {
		case <-s.done:
			return
		case first = <-s.queue:
		}
		s.runGathered(s.gather(first))
	}
}

// gather adds to first the jobs already queued and, while other requests are in flight, those
// that arrive before first has waited MaxWait since it was queued, up to MaxBatch images.
func (s *Server) gather(first *job) []*job {
	jobs, n := []*job{first}, len(first.inputs)
	deadline := time.NewTimer(max(0, time.Until(first.queued.Add(s.opts.MaxWait))))
	defer deadline.Stop()
	for n < s.opts.MaxBatch {
		select {
		case j := <-s.queue: // already waiting: always taken
			jobs, n = append(jobs, j), n+len(j.inputs)
			continue
		default:
		}
		if !s.othersInFlight(len(jobs)) {
			return jobs
		}
		select {
		case j := <-s.queue:
			jobs, n = append(jobs, j), n+len(j.inputs)
		case <-deadline.C:
			return jobs
		case <-s.done:
			return jobs
		}
	}
	return jobs
}

// othersInFlight says whether requests other than the gathered ones are being handled (still
// decoding their images, or queued): only then is it worth waiting for them to join the batch.
func (s *Server) othersInFlight(gathered int) bool { return len(s.slots) > gathered }

// runGathered runs gathered jobs, those with the same beam width, length limit and controls
// together.
func (s *Server) runGathered(jobs []*job) {
	type key struct {
		beam, maxLen int
		controls     string
	}
	var order []key
	groups := map[key][]*job{}
	for _, j := range jobs {
		k := key{j.decode.Beam, j.decode.MaxLen, fmt.Sprintf("%+v", j.decode.Controls)}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], j)
	}
	for _, k := range order {
		s.runGroup(groups[k])
	}
}

// runGroup captions the images of jobs that share decoding options, MaxBatch images per model
// call, and hands each job its captions.
func (s *Server) runGroup(jobs []*job) {
	start := time.Now()
	opts := jobs[0].decode
	var inputs [][]float32
	for _, j := range jobs {
		inputs = append(inputs, j.inputs...)
		opts.SkipAttention = opts.SkipAttention && j.decode.SkipAttention
	}
	caps, err := s.caption(inputs, opts)
	model := time.Since(start)
	next := 0
	for _, j := range jobs {
		res := jobResult{queue: start.Sub(j.queued), model: model, err: err}
		if err == nil {
			res.captions = caps[next : next+len(j.inputs)]
			next += len(j.inputs)
		}
		j.response <- res
	}
}

// caption encodes and decodes preprocessed images, MaxBatch at a time.
func (s *Server) caption(inputs [][]float32, opts decode.Options) ([]decode.Caption, error) {
	size := s.m.Config.ImageSize
	var out []decode.Caption
	for lo := 0; lo < len(inputs); lo += s.opts.MaxBatch {
		chunk := inputs[lo:min(lo+s.opts.MaxBatch, len(inputs))]
		flat := make([]float32, 0, len(chunk)*size*size*3)
		for _, in := range chunk {
			flat = append(flat, in...)
		}
		regions, err := s.m.EncodeImages(tensors.FromFlatDataAndDimensions(flat, len(chunk), size, size, 3))
		if err != nil {
			return nil, err
		}
		caps, err := decode.Regions(s.m, regions, opts)
		regions.MustFinalizeAll()
		if err != nil {
			return nil, err
		}
		out = append(out, caps...)
	}
	return out, nil
}

// warm compiles the encoder and the decoding steps for every batch size at the default beam
// width, so that the first requests do not pay for compilation.
func (s *Server) warm() error {
	size := s.m.Config.ImageSize
	input := make([]float32, size*size*3)
	for n := 1; n <= s.opts.MaxBatch; n++ {
		inputs := make([][]float32, n)
		for i := range inputs {
			inputs[i] = input
		}
		if _, err := s.caption(inputs, decode.Options{Beam: s.opts.Beam, SkipAttention: true}); err != nil {
			return fmt.Errorf("serve: warming the model: %w", err)
		}
	}
	return nil
}
