package web

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	pathpkg "path"
	"regexp"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner/viz"
)

func get(t *testing.T, h http.Handler, method, target string, header map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, target, nil)
	for k, v := range header {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t *testing.T, r *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(r.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// assetLinks are the /static/NAME?v=HASH links of the page.
var assetLinks = regexp.MustCompile(`(?:href|src|data-viridis)="(/static/[^"?]+)\?v=([0-9a-f]+)"`)

func TestPage(t *testing.T) {
	h := Handler()
	r := get(t, h, "GET", "/", nil)
	page := body(t, r)
	if r.StatusCode != 200 {
		t.Fatalf("GET / = %d", r.StatusCode)
	}
	for k, want := range map[string]string{
		"Content-Type":           "text/html; charset=utf-8",
		"Cache-Control":          "no-cache",
		"X-Content-Type-Options": "nosniff",
	} {
		if got := r.Header.Get(k); got != want {
			t.Errorf("GET / %s = %q, want %q", k, got, want)
		}
	}
	if csp := r.Header.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") {
		t.Errorf("GET / Content-Security-Policy = %q, want scripts from the server only", csp)
	}
	for _, s := range []string{`<html lang="en">`, `<title>attncap — caption an image</title>`, `name="viewport"`} {
		if !strings.Contains(page, s) {
			t.Errorf("the page lacks %s", s)
		}
	}
	if strings.Contains(page, "{{") || strings.Contains(page, "http://") || strings.Contains(page, "https://") {
		t.Errorf("the page has an unexpanded link or an external address")
	}

	links := assetLinks.FindAllStringSubmatch(page, -1)
	seen := map[string]bool{}
	for _, m := range links {
		seen[m[1]] = true
	}
	for _, want := range []string{"/static/app.css", "/static/app.js", "/static/favicon.svg", "/static/viridis.json"} {
		if !seen[want] {
			t.Errorf("the page does not link %s with its version", want)
		}
	}

	for _, m := range links {
		path, version := m[1], m[2]
		r := get(t, h, "GET", path+"?v="+version, nil)
		b := body(t, r)
		if r.StatusCode != 200 || len(b) == 0 {
			t.Errorf("GET %s = %d with %d bytes", path, r.StatusCode, len(b))
			continue
		}
		if got := r.Header.Get("Cache-Control"); got != "public, max-age=31536000, immutable" {
			t.Errorf("GET %s?v=%s Cache-Control = %q, want a year, immutable", path, version, got)
		}
		want := map[string]string{".css": "text/css; charset=utf-8", ".js": "text/javascript; charset=utf-8",
			".svg": "image/svg+xml", ".json": "application/json"}[pathpkg.Ext(path)]
		if got := r.Header.Get("Content-Type"); got != want {
			t.Errorf("GET %s Content-Type = %q, want %q", path, got, want)
		}
		// Without the version, or with an old one, the asset must be revalidated.
		for _, q := range []string{"", "?v=0123456789abcdef"} {
			r := get(t, h, "GET", path+q, nil)
			if got := r.Header.Get("Cache-Control"); r.StatusCode != 200 || got != "no-cache" {
				t.Errorf("GET %s%s = %d, Cache-Control %q; want 200, no-cache", path, q, r.StatusCode, got)
			}
		}
		etag := r.Header.Get("ETag")
		if r := get(t, h, "GET", path, map[string]string{"If-None-Match": etag}); r.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match %s = %d, want 304", path, etag, r.StatusCode)
		}
	}
	if r := get(t, h, "HEAD", "/", nil); r.StatusCode != 200 || body(t, r) != "" {
		t.Errorf("HEAD / = %d, want 200 with no body", r.StatusCode)
	}
}

func TestNotFoundAndMethods(t *testing.T) {
	h := Handler()
	for _, tc := range []struct {
		method, target string
		status         int
	}{
		{"GET", "/nope", 404},
		{"GET", "/index.html", 404},
		{"GET", "/static/", 404},
		{"GET", "/static/missing.js", 404},
		{"GET", "/static/../web.go", 404},
		{"POST", "/", 405},
		{"DELETE", "/static/app.js", 405},
	} {
		r := get(t, h, tc.method, tc.target, nil)
		b := body(t, r)
		var e struct {
			Error string `json:"error"`
		}
		if r.StatusCode != tc.status || r.Header.Get("Content-Type") != "application/json" {
			t.Errorf("%s %s = %d %q, want %d application/json", tc.method, tc.target, r.StatusCode, r.Header.Get("Content-Type"), tc.status)
		}
		if err := json.Unmarshal([]byte(b), &e); err != nil || e.Error == "" {
			t.Errorf("%s %s body = %q, want {\"error\": \"...\"}", tc.method, tc.target, b)
		}
		if tc.status == 405 && r.Header.Get("Allow") != "GET, HEAD" {
			t.Errorf("%s %s Allow = %q", tc.method, tc.target, r.Header.Get("Allow"))
		}
	}
}

// TestViridisJSON checks that the page's colour map is the Go figures' one.
func TestViridisJSON(t *testing.T) {
	r := get(t, Handler(), "GET", "/static/viridis.json", nil)
	var got [][]float64
	if err := json.Unmarshal([]byte(body(t, r)), &got); err != nil {
		t.Fatal(err)
	}
	want := viz.ViridisTable()
	if len(got) != len(want) {
		t.Fatalf("viridis.json has %d entries, want %d", len(got), len(want))
	}
	for i := range want {
		if len(got[i]) != 3 || got[i][0] != want[i][0] || got[i][1] != want[i][1] || got[i][2] != want[i][2] {
			t.Fatalf("viridis.json entry %d = %v, want %v", i, got[i], want[i])
		}
	}
	// The page rounds channels to 8 bits as viz.Viridis does.
	for _, k := range []int{0, 128, 255} {
		c := viz.Viridis(float64(k) / 256)
		for ch, v := range []uint8{c.R, c.G, c.B} {
			if js := uint8(got[k][ch]*255 + 0.5); js != v {
				t.Errorf("entry %d channel %d: page %d, Go %d", k, ch, js, v)
			}
		}
	}
}
