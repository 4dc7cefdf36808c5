package serve

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"io"
	"math"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute"
	"github.com/gomlx/gomlx/ml/model"
)

var (
	modelOnce sync.Once
	testModel *captioner.Model
	modelErr  error
)

// tinyModel is an untrained tiny-encoder captioner (random weights from a fixed seed): its
// captions are arbitrary but the same every run, which is all these tests need.
func tinyModel(t testing.TB) *captioner.Model {
	t.Helper()
	modelOnce.Do(func() {
		var backend compute.Backend
		backend, _, modelErr = captioner.NewBackend("go")
		if modelErr != nil {
			return
		}
		cfg := captioner.DefaultConfig("tiny")
		cfg.ImageSize, cfg.EmbedDim, cfg.HiddenDim, cfg.AttentionDim, cfg.MaxLen = 32, 16, 32, 16, 8
		vocab := text.BuildVocab([][]string{strings.Fields("a red green blue circle square triangle on the left right")}, 1)
		testModel, modelErr = captioner.NewModel(backend, cfg, vocab)
		if modelErr == nil {
			testModel.Store.SetParam(model.ParamInitialSeed, int64(7)) // the same weights every run
		}
	})
	if modelErr != nil {
		t.Fatal(modelErr)
	}
	return testModel
}

// testImages writes n distinct PNGs and returns their paths and bytes.
func testImages(t testing.TB, n int) ([]string, [][]byte) {
	t.Helper()
	dir := t.TempDir()
	var paths []string
	var data [][]byte
	for i := range n {
		img := image.NewRGBA(image.Rect(0, 0, 40+7*i, 30+5*i))
		for p := 0; p < len(img.Pix); p += 4 {
			img.Pix[p], img.Pix[p+1], img.Pix[p+2], img.Pix[p+3] = uint8(37*i+p), uint8(p/4%200), uint8(90*i), 255
		}
		img.Set(3, 3, color.RGBA{255, 255, 255, 255})
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		p := filepath.Join(dir, fmt.Sprintf("img%d.png", i))
		if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		paths, data = append(paths, p), append(data, buf.Bytes())
	}
	return paths, data
}

func newTestServer(t *testing.T, opts Options) (*Server, *httptest.Server) {
	t.Helper()
	s, err := New(tinyModel(t), opts)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(func() { ts.Close(); s.Close() })
	return s, ts
}

func postT(t *testing.T, url, contentType string, body []byte) (int, []byte, http.Header) {
	t.Helper()
	resp, err := http.Post(url, contentType, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, out, resp.Header
}

func multipartBody(t *testing.T, fields map[string]string, files ...[]byte) (string, []byte) {
	t.Helper()
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	for i, f := range files {
		part, err := w.CreateFormFile("image", fmt.Sprintf("f%d.png", i))
		if err != nil {
			t.Fatal(err)
		}
		_, _ = part.Write(f)
	}
	for k, v := range fields {
		_ = w.WriteField(k, v)
	}
	_ = w.Close()
	return w.FormDataContentType(), buf.Bytes()
}

// offline captions the files with decode.Images, one at a time, at beam k.
func offline(t *testing.T, paths []string, k int) []decode.Caption {
	t.Helper()
	caps, err := decode.Images(tinyModel(t), paths, decode.Options{Beam: k, SkipAttention: true}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	return caps
}

func sameCaption(t *testing.T, what string, got Caption, want decode.Caption) {
	t.Helper()
	// Batches of other sizes sum in another order: log-probabilities agree to float32 rounding.
	if got.GeneratedText != strings.Join(want.Words, " ") || got.LogProb == nil || math.Abs(*got.LogProb-want.LogProb) > 1e-5*(1+math.Abs(want.LogProb)) || got.Finished != want.Finished {
		t.Errorf("%s: %q (log-prob %v, finished %v), offline %q (%v, %v)", what, got.GeneratedText, deref(got.LogProb), got.Finished,
			strings.Join(want.Words, " "), want.LogProb, want.Finished)
	}
}

// Every input form gives the caption decode.Images gives; one image in → an object out, a list
// in → a list out, in order.
func TestInputFormsGiveTheOfflineCaptions(t *testing.T) {
	_, ts := newTestServer(t, Options{Beam: 2, RateLimit: -1})
	paths, data := testImages(t, 2)
	want := offline(t, paths, 2)
	url := ts.URL + "/caption"

	status, body, _ := postT(t, url, "image/png", data[0])
	var one Caption
	if status != 200 || json.Unmarshal(body, &one) != nil {
		t.Fatalf("raw body: %d %s", status, body)
	}
	sameCaption(t, "raw body", one, want[0])

	ct, mp := multipartBody(t, nil, data[1])
	status, body, _ = postT(t, url, ct, mp)
	if status != 200 || json.Unmarshal(body, &one) != nil {
		t.Fatalf("multipart: %d %s", status, body)
	}
	sameCaption(t, "multipart", one, want[1])

	js, _ := json.Marshal(map[string]any{"inputs": base64.StdEncoding.EncodeToString(data[0])})
	status, body, _ = postT(t, url, "application/json", js)
	if status != 200 || json.Unmarshal(body, &one) != nil {
		t.Fatalf("JSON: %d %s", status, body)
	}
	sameCaption(t, "JSON", one, want[0])

	js, _ = json.Marshal(map[string]any{"inputs": []string{base64.StdEncoding.EncodeToString(data[1]), "data:image/png;base64," + base64.StdEncoding.EncodeToString(data[0])},
		"parameters": map[string]any{"num_beams": 2, "attention": true}})
	status, body, _ = postT(t, url, "application/json", js)
	var list []Caption
	if status != 200 || json.Unmarshal(body, &list) != nil || len(list) != 2 {
		t.Fatalf("JSON list: %d %s", status, body)
	}
	sameCaption(t, "JSON list [0]", list[0], want[1])
	sameCaption(t, "JSON list [1]", list[1], want[0])
	h, w := tinyModel(t).Config.GridDims()
	if len(list[0].Tokens) == 0 {
		t.Fatalf("the test model wrote an empty caption: %s", body)
	}
	if len(list[0].Attention) != len(list[0].Tokens) || len(list[0].Attention[0]) != h*w || list[0].Grid != [2]int{h, w} {
		t.Errorf("attention %d×%d for %d tokens, grid %v; want a row of %d per token", len(list[0].Attention), len(list[0].Attention[0]), len(list[0].Tokens), list[0].Grid, h*w)
	}
}

// Concurrent requests are batched, and batching changes no caption.
func TestBatchedRequestsEqualOneByOne(t *testing.T) {
	_, ts := newTestServer(t, Options{Beam: 3, MaxBatch: 4, RateLimit: -1})
	paths, data := testImages(t, 10)
	want := offline(t, paths, 3)
	got := make([]Caption, len(data))
	var wg sync.WaitGroup
	for i := range data {
		wg.Add(1)
		go func() {
			defer wg.Done()
			resp, err := http.Post(ts.URL+"/caption", "image/png", bytes.NewReader(data[i]))
			if err != nil {
				t.Error(err)
				return
			}
			defer resp.Body.Close()
			if err := json.NewDecoder(resp.Body).Decode(&got[i]); err != nil || resp.StatusCode != 200 {
				t.Errorf("image %d: %d %v", i, resp.StatusCode, err)
			}
		}()
	}
	wg.Wait()
	for i := range data {
		sameCaption(t, fmt.Sprintf("image %d", i), got[i], want[i])
	}
}

func pngOf(w, h int) []byte {
	var buf bytes.Buffer
	_ = png.Encode(&buf, image.NewRGBA(image.Rect(0, 0, w, h)))
	return buf.Bytes()
}

// Each kind of bad input gets its status and a JSON error, never a 500, and the service goes on.
func TestBadInputsGetTheirStatus(t *testing.T) {
	_, ts := newTestServer(t, Options{RateLimit: -1, MaxBodyBytes: 200_000, MaxPixels: 10_000, MaxImages: 2})
	_, data := testImages(t, 1)
	url := ts.URL + "/caption"
	b64 := base64.StdEncoding.EncodeToString(data[0])
	mpCT, mpNoImage := multipartBody(t, map[string]string{"num_beams": "2"})
	cases := []struct {
		name, query, ct string
		body            []byte
		status          int
		says            string
	}{
		{"not an image", "", "image/jpeg", []byte("not an image"), 400, "not a readable JPEG, PNG, WebP, BMP or GIF file"},
		{"truncated PNG", "", "image/png", data[0][:len(data[0])/2], 400, "corrupt or truncated png"},
		{"pixels over the limit", "", "image/png", pngOf(200, 100), 413, "20000 pixels, limit 10000"},
		{"body over the limit", "", "image/png", make([]byte, 300_000), 413, "over the limit of 200000 bytes"},
		{"too many images", "", "application/json", []byte(`{"inputs": ["` + b64 + `", "` + b64 + `", "` + b64 + `"]}`), 413, "3 images in one request, at most 2"},
		{"text body", "", "text/plain", []byte("hello"), 415, "unsupported Content-Type \"text/plain\""},
		{"untyped non-image", "", "", []byte("hello"), 415, "unsupported Content-Type"},
		{"num_beams 0", "?num_beams=0", "image/png", data[0], 422, "num_beams 0 out of range"},
		{"num_beams text", "?num_beams=three", "image/png", data[0], 422, "num_beams=\"three\" is not an integer"},
		{"unknown parameter", "?temperatur=2", "image/png", data[0], 422, "unknown parameter \"temperatur\""},
		{"length_penalty out of range", "?length_penalty=20", "image/png", data[0], 422, "length_penalty = 20"},
		{"sampling with a beam", "?do_sample=true&num_beams=3", "image/png", data[0], 422, "do_sample"},
		{"more sequences than beams", "?num_return_sequences=3&num_beams=2", "image/png", data[0], 422, "num_return_sequences = 3"},
		{"groups not dividing the beam", "?num_beam_groups=2&num_beams=3", "image/png", data[0], 422, "num_beam_groups = 2"},
		{"top_p out of range", "?top_p=1.5&do_sample=1&num_beams=1", "image/png", data[0], 422, "top_p = 1.5"},
		{"not a finite number", "?length_penalty=NaN", "image/png", data[0], 422, "length_penalty=\"NaN\": want a finite number"},
		{"a parameter twice", "?length_penalty=1&length_penalty=2", "image/png", data[0], 422, "\"length_penalty\" given 2 times"},
		{"JSON with a query string", "?num_beams=2", "application/json", []byte(`{"inputs": "` + b64 + `"}`), 422, "not in the query string"},
		{"max_new_tokens 0", "?max_new_tokens=0", "image/png", data[0], 422, "max_new_tokens 0: want at least 1"},
		{"JSON parameter of the wrong type", "", "application/json", []byte(`{"inputs": "` + b64 + `", "parameters": {"num_beams": "2"}}`), 422, "bad \"parameters\""},
		{"JSON unknown parameter", "", "application/json", []byte(`{"inputs": "` + b64 + `", "parameters": {"topk": 2}}`), 422, "bad \"parameters\""},
		{"JSON control out of range", "", "application/json", []byte(`{"inputs": "` + b64 + `", "parameters": {"no_repeat_ngram_size": -1}}`), 422, "no_repeat_ngram_size = -1"},
		{"JSON inputs not base64", "", "application/json", []byte(`{"inputs": "%%%"}`), 400, "inputs is not a base64 image"},
		{"JSON without inputs", "", "application/json", []byte(`{"image": "x"}`), 400, "without \"inputs\""},
		{"malformed JSON", "", "application/json", []byte(`{"inputs": `), 400, "not a JSON object"},
		{"multipart without image", "", mpCT, mpNoImage, 400, "without a field \"image\""},
	}
	for _, c := range cases {
		status, body, _ := postT(t, url+c.query, c.ct, c.body)
		var e struct{ Error string }
		if status != c.status || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, c.says) {
			t.Errorf("%s: %d %s; want %d saying %q", c.name, status, body, c.status, c.says)
		}
	}
	if status, body, _ := postT(t, url, "image/png", data[0]); status != 200 {
		t.Errorf("a good request after the bad ones: %d %s", status, body)
	}
}

func TestRateLimitAndOverloadAnswerWithRetryAfter(t *testing.T) {
	_, ts := newTestServer(t, Options{RateLimit: 2, QueueSize: 1})
	_, data := testImages(t, 1)
	url := ts.URL + "/caption"
	for i := range 2 {
		if status, body, _ := postT(t, url, "image/png", data[0]); status != 200 {
			t.Fatalf("request %d: %d %s", i, status, body)
		}
	}
	status, body, h := postT(t, url, "image/png", data[0])
	if status != 429 || h.Get("Retry-After") == "" || !strings.Contains(string(body), "rate limited") {
		t.Errorf("third request in the window: %d %s (Retry-After %q)", status, body, h.Get("Retry-After"))
	}

	full, err := New(tinyModel(t), Options{RateLimit: -1, QueueSize: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer full.Close()
	full.slots <- struct{}{} // one request being handled: the queue is full
	rec := httptest.NewRecorder()
	full.Handler().ServeHTTP(rec, httptest.NewRequest("POST", "/caption", bytes.NewReader(data[0])))
	if rec.Code != 503 || rec.Header().Get("Retry-After") == "" || !strings.Contains(rec.Body.String(), "overloaded") {
		t.Errorf("full queue: %d %s", rec.Code, rec.Body)
	}
	<-full.slots
}

func TestHealthReadinessModelAndOpenAPI(t *testing.T) {
	s, ts := newTestServer(t, Options{RateLimit: -1, Checkpoint: "runs/x", Backend: "go"})
	for path, want := range map[string]string{"/healthz": `"ok"`, "/readyz": `"ok"`, "/v1/model": `"decoder":"lstm"`, "/openapi.json": `"openapi": "3.0.3"`} {
		resp, err := http.Get(ts.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || !strings.Contains(string(body), want) {
			t.Errorf("GET %s: %d %s", path, resp.StatusCode, body)
		}
	}
	info := s.Info()
	if info.Encoder != "tiny" || info.VocabSize != tinyModel(t).Config.VocabSize || info.ImageSize != 32 || info.Checkpoint != "runs/x" {
		t.Errorf("model info %+v", info)
	}
	s.Close()
	resp, err := http.Get(ts.URL + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("readyz after Close: %d", resp.StatusCode)
	}
}

func deref(p *float64) any {
	if p == nil {
		return nil
	}
	return *p
}

// max_new_tokens caps the caption: at most that many words.
func TestMaxNewTokensCapsTheCaption(t *testing.T) {
	_, ts := newTestServer(t, Options{RateLimit: -1})
	_, data := testImages(t, 1)
	status, body, _ := postT(t, ts.URL+"/caption?max_new_tokens=2&num_beams=1", "image/png", data[0])
	var c Caption
	if status != 200 || json.Unmarshal(body, &c) != nil || len(c.Tokens) > 2 {
		t.Fatalf("%d %s; want at most 2 tokens", status, body)
	}
	status, body, _ = postT(t, ts.URL+"/caption?max_new_tokens=1000", "image/png", data[0])
	if status != 200 {
		t.Errorf("max_new_tokens over the model's limit: %d %s; want the limit applied", status, body)
	}
}

// A request still uploading when the server is told to stop is answered; then Serve returns.
func TestShutdownFinishesRequestsInFlight(t *testing.T) {
	s, err := New(tinyModel(t), Options{RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx, ln, 10*time.Second) }()
	_, data := testImages(t, 1)
	body, upload := io.Pipe()
	answer := make(chan int, 1)
	go func() {
		resp, err := http.Post("http://"+ln.Addr().String()+"/caption", "image/png", body)
		if err != nil {
			answer <- 0
			return
		}
		resp.Body.Close()
		answer <- resp.StatusCode
	}()
	_, _ = upload.Write(data[0][:10]) // the request is in flight
	time.Sleep(100 * time.Millisecond)
	stop() // SIGTERM
	time.Sleep(100 * time.Millisecond)
	_, _ = upload.Write(data[0][10:])
	_ = upload.Close()
	if status := <-answer; status != 200 {
		t.Errorf("the request in flight got %d, want 200", status)
	}
	if err := <-served; err != nil {
		t.Errorf("Serve: %v", err)
	}
	if _, err := http.Get("http://" + ln.Addr().String() + "/healthz"); err == nil {
		t.Error("still accepting connections after shutdown")
	}
}

// With num_return_sequences n > 1 an image's answer is its n-best list, best first, as
// decode.Images gives it — for one image a list, for a list of images a list of lists — and
// each caption says its score and, when cut, its limit; the controls reach the decoder from the
// query string and from JSON alike.
func TestNBestAndControlsOverHTTP(t *testing.T) {
	_, ts := newTestServer(t, Options{RateLimit: -1})
	paths, data := testImages(t, 2)
	want, err := decode.Images(tinyModel(t), paths, decode.Options{Beam: 3, SkipAttention: true,
		Controls: decode.Controls{NumReturnSequences: 3, LengthPenalty: 0.5, NoRepeatNgramSize: 2}}, 1, nil)
	if err != nil {
		t.Fatal(err)
	}
	status, body, _ := postT(t, ts.URL+"/caption?num_beams=3&num_return_sequences=3&length_penalty=0.5&no_repeat_ngram_size=2", "image/png", data[0])
	var one []Caption
	if status != 200 || json.Unmarshal(body, &one) != nil {
		t.Fatalf("%d %s", status, body)
	}
	checkList(t, "query", one, want[0])
	b64 := func(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
	req := `{"inputs": ["` + b64(data[0]) + `", "` + b64(data[1]) + `"], "parameters": {"num_beams": 3, "num_return_sequences": 3, "length_penalty": 0.5, "no_repeat_ngram_size": 2}}`
	status, body, _ = postT(t, ts.URL+"/caption", "application/json", []byte(req))
	var lists [][]Caption
	if status != 200 || json.Unmarshal(body, &lists) != nil || len(lists) != 2 {
		t.Fatalf("%d %s", status, body)
	}
	for i := range lists {
		checkList(t, fmt.Sprintf("JSON image %d", i), lists[i], want[i])
	}
}

func checkList(t *testing.T, what string, got []Caption, want decode.Caption) {
	t.Helper()
	all := append([]decode.Caption{want}, want.Alternatives...)
	if len(got) != len(all) {
		t.Fatalf("%s: %d captions, decode.Images gives %d", what, len(got), len(all))
	}
	for j := range got {
		sameCaption(t, fmt.Sprintf("%s, caption %d", what, j), got[j], all[j])
		if got[j].Score == nil || math.Abs(*got[j].Score-all[j].Score) > 1e-5*(1+math.Abs(all[j].Score)) || got[j].Limit != all[j].Limit {
			t.Errorf("%s, caption %d: score %v limit %q, want %v %q", what, j, deref(got[j].Score), got[j].Limit, all[j].Score, all[j].Limit)
		}
	}
}
