package serve_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/viz"
	"github.com/attncap/attncap/datasets/text"
	"github.com/attncap/attncap/serve"
	"github.com/attncap/attncap/serve/web"
	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"
)

// TestWebPageInBrowser drives the captioning page (package serve/web) in headless Chromium:
// it loads the page, uploads an image, waits for the caption, chooses words with the mouse and
// the keyboard and reads the heat map's pixels back from the canvas (they must be the Go
// figures' colours: viridis, bilinear, 55% over the image in grey, one scale for all words),
// changes the beam width, drops and pastes an image, checks the layout on a phone-sized touch
// screen, shows the server's errors in plain words (503 with Retry-After, a broken file, a text
// file) and refuses a file over the server's size limit without uploading it, and fails on any
// error or warning in the browser's console. It runs against a fake of the API (fixed caption
// and attention, so that pixels can be checked exactly); TestWebPageWithServer runs the real one. Screenshots go to $ATTNCAP_SCREENSHOT_DIR when set, else to a temporary
// folder. It skips when Chromium is missing, unless ATTNCAP_REQUIRE_BROWSER=1.
func TestWebPageInBrowser(t *testing.T) {
	exe := browserExecutable(t)
	api := newBrowserFakeAPI()
	ts := httptest.NewServer(api)
	defer ts.Close()
	shotDir := browserShotDir(t)
	files := t.TempDir()
	squarePNG := browserSquarePNG(80, 64)
	square := filepath.Join(files, "red-square.png")
	broken := filepath.Join(files, "broken.png")
	notes := filepath.Join(files, "notes.txt")
	huge := filepath.Join(files, "huge.png")
	for path, data := range map[string][]byte{square: squarePNG, broken: []byte("this is not a PNG file"), notes: []byte("hello\n"),
		huge: make([]byte, browserMaxBody+1)} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}

	b, console, stop := browserOpen(t, exe, ts.URL)
	defer stop()
	// The beam width defaults to the model's, from GET /v1/model.
	b.poll(`document.getElementById('model-info').textContent.startsWith('Model:')`)
	if beam := browserEval[string](b, `document.getElementById('beam').value`); beam != "3" {
		t.Errorf("beam width = %s, want the model's default 3", beam)
	}
	if n := browserEval[int](b, `document.getElementById('beam').options.length`); n != 5 {
		t.Errorf("%d beam widths offered, want 1…5", n)
	}

	// Upload: the caption appears, the image keeps its aspect ratio, "none" is chosen.
	b.do(chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{square}))
	b.waitCaption(1)
	if got := browserEval[string](b, `document.getElementById('caption-text').textContent`); got != "a red square" {
		t.Errorf("caption = %q, want %q", got, "a red square")
	}
	req := api.last()
	if req.beam != "3" || req.attention != "true" || req.contentType != "image/png" || !bytes.Equal(req.body, squarePNG) {
		t.Errorf("the page posted num_beams=%s attention=%s Content-Type %q and %d bytes; want 3, true, image/png and the file's %d bytes",
			req.beam, req.attention, req.contentType, len(req.body), len(squarePNG))
	}
	words := browserEval[[]string](b, `[...document.querySelectorAll('#words button')].map(b => b.textContent)`)
	if strings.Join(words, "|") != "none|a|red|square" {
		t.Errorf("word buttons = %q, want none, a, red, square", words)
	}
	labels := browserEval[[]string](b, `[...document.querySelectorAll('#words button')].map(b => b.getAttribute('aria-label'))`)
	for i, l := range labels {
		if l == "" || (i > 0 && !strings.HasPrefix(l, words[i])) {
			t.Errorf("word button %d (%q) has aria-label %q", i, words[i], l)
		}
	}
	wh := browserEval[[]int](b, `[document.getElementById('view').width, document.getElementById('view').height]`)
	if len(wh) != 2 || math.Abs(float64(wh[0])/float64(wh[1])-80.0/64) > 0.01 {
		t.Errorf("canvas %v does not keep the image's 80:64 aspect ratio", wh)
	}
	shown := browserEval[[]float64](b, `(() => { const r = document.getElementById('view').getBoundingClientRect(); return [r.width, r.height]; })()`)
	if len(shown) != 2 || math.Abs(shown[0]/shown[1]-80.0/64) > 0.02 {
		t.Errorf("the image is shown %v, not at its 80:64 aspect ratio", shown)
	}
	b.expectPressed("none")
	w, h := wh[0], wh[1]
	grey := [3]int{128, 128, 128}
	b.expectPixel("plain image, corner", 0, 0, grey)
	b.expectPixel("plain image, centre", w/2, h/2, [3]int{220, 30, 30})

	// The colour bar is viridis, from the Go table, with 0 … the caption's largest weight.
	b.expectPixelOf("#colorbar", "colour bar, left", 0, 0, browserRGB(viz.Viridis(0)))
	b.expectPixelOf("#colorbar", "colour bar, right", 255, 0, browserRGB(viz.Viridis(1)))
	if ticks := browserEval[[]string](b, `[...document.querySelectorAll('.ticks span')].map(s => s.textContent)`); strings.Join(ticks, " ") != "0 0.35 0.7" {
		t.Errorf("colour bar labels = %q, want 0 0.35 0.7", ticks)
	}
	if text := browserEval[string](b, `document.getElementById('legend').textContent`); !strings.Contains(text, "one colour scale for all words") {
		t.Errorf("the legend does not say its scale is shared: %q", text)
	}

	// Click "a": its hot cell is the top-left one, on a scale whose top is 0.7.
	b.do(chromedp.Click(chromedp.CSS(`#words button[data-index="0"]`)))
	b.expectPressed("a")
	b.expectPixel("heat map of a, top-left", 0, 0, browserHeat(128, 0.7/0.7))
	b.expectPixel("heat map of a, bottom-right", w-1, h-1, browserHeat(128, 0.1/0.7))
	if label := browserEval[string](b, `document.getElementById('view').getAttribute('aria-label')`); !strings.Contains(label, "“a”") {
		t.Errorf("the image's aria-label does not name the chosen word: %q", label)
	}
	b.shot(filepath.Join(shotDir, "page-desktop.png"), true)

	// Keyboard: Tab from "Caption again" reaches the words' one tab stop (the chosen word),
	// arrows move, Enter and Space choose, Home goes to "none"; focus is visible.
	b.do(chromedp.Focus(chromedp.CSS("#again")), chromedp.KeyEvent(kb.Tab))
	b.expectFocus("a")
	b.do(chromedp.KeyEvent(kb.ArrowRight))
	b.expectFocus("red")
	b.expectPressed("a")
	if outline := browserEval[string](b, `getComputedStyle(document.activeElement).outlineStyle`); outline == "none" || outline == "" {
		t.Errorf("the focused word has no visible outline (outline-style %q)", outline)
	}
	b.do(chromedp.KeyEvent(kb.Enter))
	b.expectPressed("red")
	b.expectPixel("heat map of red, bottom-right", w-1, h-1, browserHeat(128, 0.7/0.7))
	b.expectPixel("heat map of red, top-left", 0, 0, browserHeat(128, 0.1/0.7))
	b.do(chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(" "))
	b.expectPressed("square")
	b.expectPixel("heat map of square, top-left", 0, 0, browserHeat(128, 0.25/0.7))
	b.do(chromedp.KeyEvent(kb.ArrowRight)) // wraps around to "none"
	b.expectFocus("none")
	b.do(chromedp.KeyEvent(kb.End))
	b.expectFocus("square")
	b.do(chromedp.KeyEvent(kb.Home), chromedp.KeyEvent(kb.Enter))
	b.expectPressed("none")
	b.expectPixel("plain image again, corner", 0, 0, grey)

	// A new beam width captions the image again with it.
	b.eval(`(() => { const s = document.getElementById('beam'); s.value = '5'; s.dispatchEvent(new Event('change')); })()`)
	b.waitCaption(2)
	if r := api.last(); r.beam != "5" {
		t.Errorf("after choosing beam width 5 the page posted num_beams=%s", r.beam)
	}

	// Overloaded (the fake answers 503 to num_beams=4): the reason, when to retry, and the
	// caption shown so far stays, since it is of the same image.
	b.eval(`(() => { const s = document.getElementById('beam'); s.value = '4'; s.dispatchEvent(new Event('change')); })()`)
	errText := b.waitError()
	for _, want := range []string{"busy", "Try again in 7 seconds", "HTTP 503", "overloaded: 64 requests queued"} {
		if !strings.Contains(errText, want) {
			t.Errorf("the error shown for 503, %q, lacks %q", errText, want)
		}
	}
	if browserEval[bool](b, `document.getElementById('result').hidden`) {
		t.Errorf("a failed request for the same image hid its caption")
	}
	b.eval(`document.getElementById('beam').value = '5'`)

	// Drop and paste (synthetic events carrying the file).
	makeFile := fmt.Sprintf(`new File([Uint8Array.from(atob(%q), c => c.charCodeAt(0))], 'dropped.png', {type: 'image/png'})`,
		base64.StdEncoding.EncodeToString(squarePNG))
	b.eval(`(() => { const dt = new DataTransfer(); dt.items.add(` + makeFile + `);
		document.getElementById('drop').dispatchEvent(new DragEvent('drop', {dataTransfer: dt, bubbles: true, cancelable: true})); })()`)
	b.waitCaption(3)
	if browserEval[bool](b, `!document.getElementById('error').hidden`) {
		t.Errorf("the error is still shown after a caption succeeded")
	}
	b.eval(`(() => { const dt = new DataTransfer(); dt.items.add(` + makeFile + `);
		document.dispatchEvent(new ClipboardEvent('paste', {clipboardData: dt, bubbles: true, cancelable: true})); })()`)
	b.waitCaption(4)
	if r := api.last(); !bytes.Equal(r.body, squarePNG) || r.contentType != "image/png" {
		t.Errorf("the pasted image was posted as %q with %d bytes", r.contentType, len(r.body))
	}

	// Phone: one column, nothing wider than the screen.
	b.do(chromedp.EmulateViewport(390, 844, chromedp.EmulateScale(2), chromedp.EmulateMobile, chromedp.EmulateTouch))
	b.do(chromedp.Tap(chromedp.CSS(`#words button[data-index="1"]`)))
	b.expectPressed("red")
	if !browserEval[bool](b, `getComputedStyle(document.querySelector('.drop-lead.touch-only')).display !== 'none' &&
		getComputedStyle(document.querySelector('.drop-lead.pointer')).display === 'none'`) {
		t.Errorf("on a touch screen the page still offers drag and drop and Ctrl+V")
	}
	if sw := browserEval[int](b, `document.documentElement.scrollWidth`); sw > 390 {
		t.Errorf("on a 390-pixel-wide screen the page is %d pixels wide", sw)
	}
	b.shot(filepath.Join(shotDir, "page-phone.png"), true)

	// Errors: the server's message, in the page, in plain words.
	b.do(chromedp.EmulateViewport(1280, 900))
	b.do(chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{broken}))
	errText = b.waitError()
	for _, want := range []string{"could not read “broken.png” as an image", "HTTP 400", browserBrokenMessage} {
		if !strings.Contains(errText, want) {
			t.Errorf("the error shown for a broken file, %q, lacks %q", errText, want)
		}
	}
	if !browserEval[bool](b, `document.getElementById('result').hidden`) {
		t.Errorf("the previous image's caption is still shown after a failed upload of another file")
	}
	b.shot(filepath.Join(shotDir, "page-error.png"), false)
	b.do(chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{notes}))
	b.poll(`document.getElementById('error').textContent.includes('HTTP 415')`)
	if errText := b.waitError(); !strings.Contains(errText, "does not take this kind of file") {
		t.Errorf("the error shown for a text file is %q", errText)
	}
	// Over the body limit /v1/model gives: refused in the page, without uploading it.
	posted := api.count()
	b.do(chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{huge}))
	b.poll(`document.getElementById('error').textContent.includes('too large')`)
	if errText := b.waitError(); !strings.Contains(errText, "“huge.png” is too large for the server") || api.count() != posted {
		t.Errorf("for a file over the limit the page shows %q and posted %d times", errText, api.count()-posted)
	}

	stop()
	browserCheckConsole(t, console())
	t.Logf("screenshots in %s", shotDir)
}

// TestWebPageWithServer runs the page against the real server (serve.New) with an untrained
// tiny model that never ends a caption early (arbitrary words up to the length limit): the
// page must show exactly the server's caption for an uploaded image, lay the server's
// attention over it on the shared scale (pixels checked against the Go colours), be usable by
// keyboard, and show the server's own message for a truncated PNG, with nothing in the console.
func TestWebPageWithServer(t *testing.T) {
	exe := browserExecutable(t)
	m := browserTinyModel(t)
	s, err := serve.New(m, serve.Options{RateLimit: -1})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	// Untrained, the model ends its caption at once; with <end> made impossible (its output
	// bias hugely negative, set once New has initialised the weights) it writes words up to the
	// length limit.
	bias := m.Store.GetVariable("/decoder/output/dense/biases")
	if bias == nil {
		t.Fatal("the model has no output bias /decoder/output/dense/biases")
	}
	values := tensors.MustCopyFlatData[float32](bias.MustValue())
	values[text.EndID] = -1e9
	bias.MustSetValue(tensors.FromFlatDataAndDimensions(values, len(values)))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	shotDir := browserShotDir(t)
	info := s.Info()
	beam := max(1, min(5, info.Beam, info.MaxBeam))

	files := t.TempDir()
	squarePNG := browserSquarePNG(80, 64)
	brokenPNG := squarePNG[:len(squarePNG)/2]
	square := filepath.Join(files, "red-square.png")
	broken := filepath.Join(files, "truncated.png")
	for path, data := range map[string][]byte{square: squarePNG, broken: brokenPNG} {
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// What the server answers, asked directly: the page must show the same.
	var want struct {
		GeneratedText string      `json:"generated_text"`
		Tokens        []string    `json:"tokens"`
		Attention     [][]float64 `json:"attention"`
		Grid          [2]int      `json:"grid"`
	}
	var wantErr struct {
		Error string `json:"error"`
	}
	browserPost(t, fmt.Sprintf("%s/caption?num_beams=%d&attention=true", ts.URL, beam), squarePNG, 200, &want)
	browserPost(t, ts.URL+"/caption?num_beams=1&attention=true", brokenPNG, 400, &wantErr)

	b, console, stop := browserOpen(t, exe, ts.URL)
	defer stop()
	b.poll(`document.getElementById('model-info').textContent.startsWith('Model:')`)
	if got := browserEval[string](b, `document.getElementById('beam').value`); got != strconv.Itoa(beam) {
		t.Errorf("beam width = %s, want the server's default %d", got, beam)
	}
	if got := browserEval[string](b, `document.getElementById('model-info').textContent`); !strings.Contains(got, info.Encoder+" encoder") {
		t.Errorf("model description %q does not name the %s encoder", got, info.Encoder)
	}

	b.do(chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{square}))
	b.waitCaption(1)
	caption := browserEval[string](b, `document.getElementById('caption-text').textContent`)
	words := browserEval[[]string](b, `[...document.querySelectorAll('#words button')].slice(1).map(b => b.textContent)`)
	if (want.GeneratedText != "" && caption != want.GeneratedText) || strings.Join(words, " ") != strings.Join(want.Tokens, " ") {
		t.Errorf("the page shows %q with words %q; the server says %q, tokens %q", caption, words, want.GeneratedText, want.Tokens)
	}
	t.Logf("the untrained model's caption: %q (%d words, grid %v)", want.GeneratedText, len(want.Tokens), want.Grid)
	wh := browserEval[[]int](b, `[document.getElementById('view').width, document.getElementById('view').height]`)
	b.expectPixel("plain image, corner", 0, 0, [3]int{128, 128, 128})
	if len(want.Tokens) > 0 && len(want.Attention) > 0 && len(wh) == 2 {
		top := 0.0
		for _, row := range want.Attention {
			for _, v := range row {
				top = max(top, v)
			}
		}
		last := len(want.Attention[0]) - 1
		b.do(chromedp.Click(chromedp.CSS(`#words button[data-index="0"]`)))
		b.expectPressed(want.Tokens[0])
		b.expectPixel("heat map of word 0, top-left", 0, 0, browserHeat(128, want.Attention[0][0]/top))
		b.expectPixel("heat map of word 0, bottom-right", wh[0]-1, wh[1]-1, browserHeat(128, want.Attention[0][last]/top))
		if got := browserEval[string](b, `document.getElementById('tick-max').textContent`); got != strconv.FormatFloat(top, 'g', 2, 64) {
			t.Errorf("colour bar's top label = %q, want the largest weight %.2g", got, top)
		}
		b.do(chromedp.Focus(chromedp.CSS("#again")), chromedp.KeyEvent(kb.Tab))
		b.expectFocus(want.Tokens[0])
		b.do(chromedp.KeyEvent(kb.ArrowLeft), chromedp.KeyEvent(kb.Enter))
		b.expectPressed("none")
		b.expectPixel("plain image again, corner", 0, 0, [3]int{128, 128, 128})
		if len(want.Tokens) > 1 {
			b.do(chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(kb.ArrowRight), chromedp.KeyEvent(" "))
			b.expectPressed(want.Tokens[1])
			b.expectPixel("heat map of word 1, top-left", 0, 0, browserHeat(128, want.Attention[1][0]/top))
		}
	} else {
		t.Errorf("the server's caption has no words or no attention: %+v", want)
	}
	b.shot(filepath.Join(shotDir, "page-server.png"), true)

	// The decoding panel: two captions asked for, the second listed under the first, as the
	// server answers the same query.
	nBeam := max(2, beam)
	var nBest []struct {
		GeneratedText string `json:"generated_text"`
	}
	browserPost(t, fmt.Sprintf("%s/caption?num_beams=%d&attention=true&num_return_sequences=2", ts.URL, nBeam), squarePNG, 200, &nBest)
	b.eval(fmt.Sprintf(`document.getElementById('decoding').open = true; document.getElementById('beam').value = '%d'; document.getElementById('opt-n').value = '2'`, nBeam))
	b.do(chromedp.Click(chromedp.CSS("#again")))
	b.waitCaption(2)
	alts := browserEval[[]string](b, `[...document.querySelectorAll('#alternatives li')].map(li => li.firstChild.textContent)`)
	if len(nBest) != 2 || len(alts) != 1 || alts[0] != nBest[1].GeneratedText {
		t.Errorf("the page lists %q under the caption; the server's n-best is %+v", alts, nBest)
	}
	b.shot(filepath.Join(shotDir, "page-server-nbest.png"), true)
	b.eval(`document.getElementById('opt-n').value = ''; document.getElementById('decoding').open = false`)

	b.do(chromedp.SetUploadFiles(chromedp.CSS("#file"), []string{broken}))
	if got := b.waitError(); !strings.Contains(got, wantErr.Error) || !strings.Contains(got, "could not read “truncated.png” as an image") {
		t.Errorf("the page shows %q for a truncated PNG; the server says %q", got, wantErr.Error)
	}
	b.shot(filepath.Join(shotDir, "page-server-error.png"), false)

	stop()
	browserCheckConsole(t, console())
	t.Logf("screenshots in %s", shotDir)
}

// browserTinyModel is an untrained tiny-encoder captioner (random weights from a fixed seed),
// as the server's own tests use: arbitrary but deterministic captions.
func browserTinyModel(t *testing.T) *captioner.Model {
	t.Helper()
	backend, _, err := captioner.NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	cfg := captioner.DefaultConfig("tiny")
	cfg.ImageSize, cfg.EmbedDim, cfg.HiddenDim, cfg.AttentionDim, cfg.MaxLen = 32, 16, 32, 16, 8
	vocab := text.BuildVocab([][]string{strings.Fields("a red green blue circle square triangle on the left right")}, 1)
	m, err := captioner.NewModel(backend, cfg, vocab)
	if err != nil {
		t.Fatal(err)
	}
	m.Store.SetParam(model.ParamInitialSeed, int64(7)) // the same weights every run
	return m
}

// browserPost posts an image to url and decodes the JSON answer, which must have status.
func browserPost(t *testing.T, url string, body []byte, status int, v any) {
	t.Helper()
	resp, err := http.Post(url, "image/png", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != status {
		t.Fatalf("POST %s: %d %s, want %d", url, resp.StatusCode, data, status)
	}
	if err := json.Unmarshal(data, v); err != nil {
		t.Fatalf("POST %s: %v in %s", url, err, data)
	}
}

// browserExecutable finds Chromium, or skips the test (fails with ATTNCAP_REQUIRE_BROWSER=1).
func browserExecutable(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "/usr/bin/chromium"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	msg := "headless Chromium not found (neither chromium on PATH nor /usr/bin/chromium); on Debian: apt-get install -y chromium"
	if os.Getenv("ATTNCAP_REQUIRE_BROWSER") == "1" {
		t.Fatal(msg + " (ATTNCAP_REQUIRE_BROWSER=1)")
	}
	t.Skip(msg)
	return ""
}

// browserShotDir is $ATTNCAP_SCREENSHOT_DIR when set, else a temporary folder.
func browserShotDir(t *testing.T) string {
	dir := os.Getenv("ATTNCAP_SCREENSHOT_DIR")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

// browserOpen starts headless Chromium (a fresh profile, no network but loopback, everything
// within 60 s), loads the page at url on a 1280×900 screen, checks its title and language,
// and returns it with its console's messages (call that after stop) and stop, which closes
// the browser.
func browserOpen(t *testing.T, exe, url string) (*browserPage, func() []chromedp.ConsoleMessage, func()) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(exe),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Names resolve to nothing: the page can reach the test's server (127.0.0.1) only.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
	)
	actx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	bctx, cancelTab := chromedp.NewContext(actx)
	stop := func() { cancelTab(); cancelAlloc(); cancel() }
	if err := chromedp.Do(bctx); err != nil { // starts the browser
		stop()
		t.Fatalf("starting %s: %v", exe, err)
	}
	console := browserConsole(bctx)
	b := &browserPage{t: t, ctx: bctx}
	b.do(chromedp.EmulateViewport(1280, 900), chromedp.Navigate(url))
	if title := browserRun(b, chromedp.Title()); title != "attncap — caption an image" {
		t.Errorf("title = %q", title)
	}
	if lang := browserEval[string](b, `document.documentElement.lang`); lang != "en" {
		t.Errorf("lang = %q, want en", lang)
	}
	return b, console, stop
}

// browserCheckConsole fails the test on errors, warnings and exceptions in the console, but
// the network layer's entries for the page's failed POST /caption requests (the test's broken
// files), which are the expected answers.
func browserCheckConsole(t *testing.T, msgs []chromedp.ConsoleMessage) {
	t.Helper()
	for _, m := range msgs {
		if m.Source == "network" && strings.Contains(m.URL, "/caption") {
			continue
		}
		if m.Type == chromedp.ConsoleError || m.Type == chromedp.ConsoleException || m.Type == chromedp.ConsoleWarning {
			t.Errorf("browser console %s: %s (%s:%d)", m.Type, m, m.URL, m.Line+1)
		}
	}
}

// browserConsole gathers the browser console's messages; the returned func gives those seen so
// far (call it after the browser ended to have all).
func browserConsole(ctx context.Context) func() []chromedp.ConsoleMessage {
	var mu sync.Mutex
	var msgs []chromedp.ConsoleMessage
	done := make(chan struct{})
	seq := chromedp.Console(ctx)
	go func() {
		defer close(done)
		for m, err := range seq {
			if err != nil {
				return
			}
			mu.Lock()
			msgs = append(msgs, m)
			mu.Unlock()
		}
	}()
	return func() []chromedp.ConsoleMessage {
		select {
		case <-done:
		case <-time.After(2 * time.Second):
		}
		mu.Lock()
		defer mu.Unlock()
		return append([]chromedp.ConsoleMessage(nil), msgs...)
	}
}

// browserPage runs actions on the page, failing the test on errors.
type browserPage struct {
	t   *testing.T
	ctx context.Context
}

func (b *browserPage) do(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	if err := chromedp.Do(b.ctx, actions...); err != nil {
		b.t.Fatalf("browser: %v", err)
	}
}

func browserRun[T any](b *browserPage, a chromedp.Action[T]) T {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, a)
	if err != nil {
		b.t.Fatalf("browser: %v", err)
	}
	return v
}

func browserEval[T any](b *browserPage, js string) T {
	b.t.Helper()
	return browserRun(b, chromedp.Evaluate[T](js))
}

func (b *browserPage) eval(js string) {
	b.t.Helper()
	b.do(chromedp.Evaluate[chromedp.Void](js))
}

// poll waits until the JavaScript expression is true.
func (b *browserPage) poll(js string) {
	b.t.Helper()
	if _, err := chromedp.Run(b.ctx, chromedp.Poll[bool](js, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		b.t.Fatalf("waiting for %s: %v", js, err)
	}
}

// waitCaption waits until the page has shown n captions (the result's data-shown counter).
func (b *browserPage) waitCaption(n int) {
	b.t.Helper()
	b.poll(fmt.Sprintf(`Number(document.getElementById('result').dataset.shown || 0) >= %d &&
		!document.getElementById('result').hasAttribute('aria-busy')`, n))
}

// waitError waits for the page's error box and returns its text.
func (b *browserPage) waitError() string {
	b.t.Helper()
	b.poll(`!document.getElementById('error').hidden && !document.getElementById('status').classList.contains('busy')`)
	return browserEval[string](b, `document.getElementById('error').innerText`)
}

func (b *browserPage) expectPressed(word string) {
	b.t.Helper()
	got := browserEval[[]string](b, `[...document.querySelectorAll('#words button[aria-pressed="true"]')].map(b => b.textContent)`)
	if len(got) != 1 || got[0] != word {
		b.t.Errorf("chosen words = %q, want %q", got, word)
	}
}

func (b *browserPage) expectFocus(word string) {
	b.t.Helper()
	got := browserEval[string](b, `document.activeElement.closest('#words') ? document.activeElement.textContent : document.activeElement.id + ' (not a word)'`)
	if got != word {
		b.t.Errorf("focus on %q, want the word %q", got, word)
	}
}

func (b *browserPage) expectPixel(what string, x, y int, want [3]int) {
	b.t.Helper()
	b.expectPixelOf("#view", what, x, y, want)
}

// expectPixelOf compares a canvas pixel with want, ±2 per channel.
func (b *browserPage) expectPixelOf(canvas, what string, x, y int, want [3]int) {
	b.t.Helper()
	// Read a copy, so that the test's readbacks do not slow down (or warn about) the page's canvas.
	got := browserEval[[]int](b, fmt.Sprintf(`(() => {
		const src = document.querySelector(%q), c = document.createElement('canvas');
		c.width = src.width; c.height = src.height;
		const ctx = c.getContext('2d', {willReadFrequently: true});
		ctx.drawImage(src, 0, 0);
		return [...ctx.getImageData(%d, %d, 1, 1).data.slice(0, 3)];
	})()`, canvas, x, y))
	if len(got) != 3 {
		b.t.Fatalf("%s: read %v", what, got)
	}
	for i := range 3 {
		if d := got[i] - want[i]; d < -2 || d > 2 {
			b.t.Errorf("%s: pixel (%d, %d) = %v, want %v", what, x, y, got, want)
			return
		}
	}
}

func (b *browserPage) shot(path string, full bool) {
	b.t.Helper()
	var png []byte
	if full {
		png = browserRun(b, chromedp.FullScreenshot(100))
	} else {
		png = browserRun(b, chromedp.CaptureScreenshot())
	}
	if err := os.WriteFile(path, png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

func browserRGB(c color.RGBA) [3]int { return [3]int{int(c.R), int(c.G), int(c.B)} }

// browserHeat is the Go figures' colour of a pixel of grey level g under attention t (on a 0…1
// scale): Viridis(t) blended at 55% over the grey.
func browserHeat(g uint8, t float64) [3]int {
	c := browserRGB(viz.Viridis(t))
	for i := range c {
		c[i] = int(math.Round(0.45*float64(g) + 0.55*float64(c[i])))
	}
	return c
}

// browserSquarePNG is a shapes-like image: a red square on grey.
func browserSquarePNG(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.RGBA{128, 128, 128, 255}), image.Point{}, draw.Src)
	draw.Draw(img, image.Rect(w/2-16, h/2-16, w/2+16, h/2+16), image.NewUniform(color.RGBA{220, 30, 30, 255}), image.Point{}, draw.Src)
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		panic(err)
	}
	return buf.Bytes()
}

// browserMaxBody is the fake server's largest request body, which its GET /v1/model gives as
// max_body_bytes.
const browserMaxBody = 150_000

// browserBrokenMessage is what the fake server says of a file it cannot decode.
const browserBrokenMessage = "not a readable JPEG, PNG, WebP, BMP or GIF file"

// browserRequest is one POST /caption the fake server received.
type browserRequest struct {
	beam, attention, contentType string
	body                         []byte
}

// browserFakeAPI answers as the server's API does, with a fixed caption: "a red square",
// its attention on a 2×2 grid (a: top-left cell 0.7, red: bottom-right 0.7, square: even);
// num_beams=4 gets 503 (overloaded, Retry-After: 7). Its GET /v1/model also gives
// max_body_bytes, which the page checks uploads against when the server gives it.
type browserFakeAPI struct {
	mux  *http.ServeMux
	mu   sync.Mutex
	reqs []browserRequest
}

func newBrowserFakeAPI() *browserFakeAPI {
	f := &browserFakeAPI{mux: http.NewServeMux()}
	writeJSON := func(w http.ResponseWriter, status int, v any) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		_ = json.NewEncoder(w).Encode(v)
	}
	f.mux.HandleFunc("GET /v1/model", func(w http.ResponseWriter, _ *http.Request) {
		writeJSON(w, 200, map[string]any{"encoder": "tiny", "decoder": "lstm", "vocab_size": 41, "image_size": 64,
			"grid": []int{2, 2}, "backend": "fake", "checkpoint": "none (browser test)", "beam": 3, "max_beam": 8,
			"max_body_bytes": browserMaxBody})
	})
	f.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	f.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) { writeJSON(w, 200, map[string]string{"status": "ok"}) })
	f.mux.HandleFunc("POST /caption", func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		body, _ := io.ReadAll(r.Body)
		q := r.URL.Query()
		f.mu.Lock()
		f.reqs = append(f.reqs, browserRequest{q.Get("num_beams"), q.Get("attention"), r.Header.Get("Content-Type"), body})
		f.mu.Unlock()
		switch r.Header.Get("Content-Type") {
		case "image/jpeg", "image/png", "image/webp", "image/bmp", "image/gif":
		default:
			writeJSON(w, 415, map[string]string{"error": fmt.Sprintf("unsupported Content-Type %q: send image/jpeg, image/png, image/webp, image/bmp or image/gif", r.Header.Get("Content-Type"))})
			return
		}
		if k, err := strconv.Atoi(q.Get("num_beams")); err != nil || k < 1 || k > 8 {
			writeJSON(w, 422, map[string]string{"error": "num_beams must be 1…8"})
			return
		}
		if q.Get("num_beams") == "4" {
			w.Header().Set("Retry-After", "7")
			writeJSON(w, 503, map[string]string{"error": "overloaded: 64 requests queued; retry later"})
			return
		}
		if _, _, err := image.Decode(bytes.NewReader(body)); err != nil {
			writeJSON(w, 400, map[string]string{"error": "image upload: " + browserBrokenMessage + ": " + err.Error()})
			return
		}
		writeJSON(w, 200, map[string]any{
			"generated_text": "a red square", "tokens": []string{"a", "red", "square"}, "log_prob": -1.23, "finished": true,
			"attention": [][]float64{{0.7, 0.1, 0.1, 0.1}, {0.1, 0.1, 0.1, 0.7}, {0.25, 0.25, 0.25, 0.25}},
			"grid":      []int{2, 2},
			"time_ms":   map[string]float64{"queue": 0.4, "model": 12.5, "total": float64(time.Since(start).Microseconds()) / 1000},
		})
	})
	f.mux.Handle("/", web.Handler())
	return f
}

func (f *browserFakeAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) { f.mux.ServeHTTP(w, r) }

func (f *browserFakeAPI) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.reqs)
}

func (f *browserFakeAPI) last() browserRequest {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		return browserRequest{}
	}
	return f.reqs[len(f.reqs)-1]
}
