// Package web is the captioning server's web page: one HTML page with its style sheet and
// script, embedded in the binary (no build step, no CDN, works offline).
//
// The page talks to the server's API: GET /v1/model for the model's description and default
// beam width, and POST /caption?num_beams=K&attention=true with the image as the body. It
// shows the image and its caption; each word of the caption is a button that lays that
// word's attention over the image as a viridis heat map (the colour map of
// viz.AttentionFigure, served from the Go table at /static/viridis.json), with one colour
// scale for all words of the caption and a colour bar for it. When GET /v1/model gives
// max_body_bytes, the page refuses larger files itself instead of uploading them.
//
// Keyboard: Tab goes through "Choose an image…", the beam width, "Caption again" and then the
// caption's words, which are one tab stop (a toolbar): ←/↑ and →/↓ move between the words
// ("none" first, wrapping around), Home and End go to the first and last, Enter or Space
// chooses. Ctrl+V anywhere pastes an image.
//
// Handler serves:
//
//	/                      index.html
//	/static/app.css        the style sheet
//	/static/app.js         the script
//	/static/favicon.svg    the icon
//	/static/viridis.json   viz.ViridisTable() as [[r, g, b], ...] (256 entries in [0, 1])
//
// and answers anything else with 404 and a JSON body {"error": "..."}, and methods other than
// GET and HEAD with 405. The page links its assets as /static/NAME?v=HASH, HASH a digest of
// their content: such URLs are cached for a year (immutable), and any other request of an
// asset, and the page itself, must revalidate (ETag, 304 Not Modified), so that a new binary
// never serves a stale page.
package web

import (
	"bytes"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"
	"time"

	"github.com/attncap/attncap/captioner/viz"
)

//go:embed index.html static
var files embed.FS

// An asset is one file the handler serves.
type asset struct {
	body        []byte
	contentType string
	etag        string // quoted
	version     string // short digest, the ?v= of the page's links
}

// site holds every file the handler serves, by URL path.
var site = mustBuildSite()

func newAsset(body []byte, contentType string) *asset {
	sum := sha256.Sum256(body)
	v := hex.EncodeToString(sum[:8])
	return &asset{body: body, contentType: contentType, etag: `"` + v + `"`, version: v}
}

func mustBuildSite() map[string]*asset {
	s, err := buildSite()
	if err != nil {
		panic("serve/web: " + err.Error())
	}
	return s
}

var contentTypes = map[string]string{
	".css":  "text/css; charset=utf-8",
	".js":   "text/javascript; charset=utf-8",
	".svg":  "image/svg+xml",
	".json": "application/json",
}

func buildSite() (map[string]*asset, error) {
	s := map[string]*asset{}
	entries, err := files.ReadDir("static")
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		body, err := files.ReadFile("static/" + e.Name())
		if err != nil {
			return nil, err
		}
		ct, ok := contentTypes[path.Ext(e.Name())]
		if !ok {
			return nil, fmt.Errorf("no content type for static/%s", e.Name())
		}
		s["/static/"+e.Name()] = newAsset(body, ct)
	}
	viridis, err := ViridisJSON()
	if err != nil {
		return nil, err
	}
	s["/static/viridis.json"] = newAsset(viridis, contentTypes[".json"])

	// The page links its assets with their version: {{v:NAME}} in index.html becomes
	// /static/NAME?v=HASH.
	page, err := files.ReadFile("index.html")
	if err != nil {
		return nil, err
	}
	html := string(page)
	for p, a := range s {
		html = strings.ReplaceAll(html, "{{v:"+strings.TrimPrefix(p, "/static/")+"}}", p+"?v="+a.version)
	}
	if i := strings.Index(html, "{{v:"); i >= 0 {
		return nil, fmt.Errorf("index.html links an asset that does not exist: %.40s", html[i:])
	}
	s["/"] = newAsset([]byte(html), "text/html; charset=utf-8")
	return s, nil
}

// ViridisJSON is viz.ViridisTable() as JSON: 256 entries [r, g, b], each channel in
// [0, 1], entry k for weights in [k/256, (k+1)/256) of the colour scale. The page draws its
// heat maps and colour bar from it, as viz.Viridis does (channels rounded to 8 bits).
func ViridisJSON() ([]byte, error) {
	t := viz.ViridisTable()
	return json.Marshal(t[:])
}

// contentSecurityPolicy allows only the page's own script, style and icon, images the page
// made from the chosen file (blob:), and requests to the same server.
const contentSecurityPolicy = "default-src 'none'; script-src 'self'; style-src 'self'; " +
	"img-src 'self' blob:; connect-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// Handler serves the page at "/" and its assets under "/static/"; anything else is a 404
// with a JSON body {"error": "..."}. Mount it at "/" after the API's routes.
func Handler() http.Handler {
	return http.HandlerFunc(serve)
}

func serve(w http.ResponseWriter, r *http.Request) {
	a, ok := site[r.URL.Path]
	if !ok {
		writeError(w, http.StatusNotFound, fmt.Sprintf("no such page: %s (the captioning page is at /)", r.URL.Path))
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		writeError(w, http.StatusMethodNotAllowed, fmt.Sprintf("%s %s is not allowed: use GET", r.Method, r.URL.Path))
		return
	}
	h := w.Header()
	h.Set("Content-Type", a.contentType)
	h.Set("ETag", a.etag)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	if r.URL.Path == "/" {
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Frame-Options", "DENY")
	}
	if v := r.URL.Query().Get("v"); v != "" && v == a.version {
		h.Set("Cache-Control", "public, max-age=31536000, immutable")
	} else {
		h.Set("Cache-Control", "no-cache")
	}
	// ServeContent answers If-None-Match (304), Range and HEAD.
	http.ServeContent(w, r, "", time.Time{}, bytes.NewReader(a.body))
}

// writeError answers with status and a JSON body {"error": msg}, as the API does.
func writeError(w http.ResponseWriter, status int, msg string) {
	body, _ := json.Marshal(map[string]string{"error": msg})
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	w.Write(append(body, '\n'))
}
