package nbcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// write saves a one-cell notebook with these outputs and returns its path.
func write(t *testing.T, outputs []map[string]any, minImages int) string {
	t.Helper()
	nb := map[string]any{
		"cells": []any{
			map[string]any{"cell_type": "markdown", "source": "# title"},
			map[string]any{"cell_type": "code", "source": "x", "outputs": outputs},
		},
		"metadata": map[string]any{"attncap": map[string]any{"min_images": minImages}},
	}
	data, _ := json.Marshal(nb)
	p := filepath.Join(t.TempDir(), "nb.ipynb")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func stderr(s string) map[string]any {
	return map[string]any{"output_type": "stream", "name": "stderr", "text": s}
}

func htmlOut(s string) map[string]any {
	return map[string]any{"output_type": "display_data", "data": map[string]any{"text/html": []any{s}}}
}

func errorOut(evalue string, traceback ...string) map[string]any {
	return map[string]any{"output_type": "error", "ename": "ERROR", "evalue": evalue, "traceback": traceback}
}

// gonbReport is GoNB's HTML error report (errorpublish.go's template) around lines.
func gonbReport(lines ...string) string {
	var b strings.Builder
	b.WriteString("\n<style>\n.gonb-err-location {\n\tbackground: var(--jp-err-color2);\n}\n</style>\n")
	b.WriteString(`<div class="jp-RenderedText" data-mime-type="application/vnd.jupyter.stderr" style="font-family: monospace;">` + "\n")
	for _, l := range lines {
		b.WriteString(`<div style="white-space: pre-wrap;">` + l + "</div>\n")
	}
	b.WriteString("</div>\n")
	return b.String()
}

func TestCheck(t *testing.T) {
	png := map[string]any{"output_type": "display_data", "data": map[string]any{"image/png": "iVBOR"}}
	img := htmlOut(`<img src="data:image/png;base64,x">`)
	cases := []struct {
		name      string
		outputs   []map[string]any
		min       int
		wantFail  string
		wantCount int
	}{
		{"good", []map[string]any{png, img, {"output_type": "stream", "name": "stdout", "text": "panic: only on stdout"}}, 2, "", 2},
		{"panic", []map[string]any{{"output_type": "stream", "name": "stderr", "text": []any{"panic: boom\n", "goroutine 1 [running]:\n"}}}, 0, "cell 1: panic: boom", 0},
		{"exit", []map[string]any{stderr("exit status 3")}, 0, "cell 1: exit status 3", 0},
		{"error", []map[string]any{{"output_type": "error", "ename": "E", "evalue": "bad"}}, 0, "cell 1: E: bad", 0},
		{"pictures", []map[string]any{png}, 2, "promises 2", 1},
	}
	for _, c := range cases {
		r, err := Check(write(t, c.outputs, c.min))
		if err != nil {
			t.Fatal(err)
		}
		got := strings.Join(r.Problems, "\n")
		if (c.wantFail == "") != (got == "") || !strings.Contains(got, c.wantFail) || r.Images != c.wantCount {
			t.Errorf("%s: problems %q, %d images; want %q, %d", c.name, got, r.Images, c.wantFail, c.wantCount)
		}
	}
}

// TestRootCause: each failed cell is reported once, by the most specific cause in any of its
// outputs, root cause first.
func TestRootCause(t *testing.T) {
	goGet := `failed to run "/usr/local/go/bin/go get": exit status 1`
	cases := []struct {
		name     string
		outputs  []map[string]any
		kind     string
		line     string // the problem line starts with it
		hint     string // and contains it
		reported string // and contains it
	}{
		{
			name: "go version hidden in html",
			outputs: []map[string]any{
				htmlOut(gonbReport(" failed to run &#34;/usr/local/go/bin/go get&#34;: exit status 1", " ",
					" go: go.mod requires go &gt;= 1.27.3 (running go 1.26.8; GOTOOLCHAIN=local)")),
				errorOut(goGet, goGet),
			},
			kind:     KindGoVersion,
			line:     "cell 1: go: go.mod requires go >= 1.27.3 (running go 1.26.8; GOTOOLCHAIN=local) — start Jupyter with GOTOOLCHAIN=go1.27.3",
			hint:     "README Notebooks",
			reported: "(reported: ERROR: " + goGet + ")",
		},
		{
			name: "panic with its cell line",
			outputs: []map[string]any{
				stderr("panic: open runs/notebook-shapes/config.json: no such file or directory\n\ngoroutine 1 [running]:\n" +
					"github.com/janpfeifer/must.M(...)\n\t/root/go/pkg/mod/github.com/janpfeifer/must@v0.2.0/must.go:20\n" +
					"main.main()\n\t \x1b[7m[[ Cell [4] Line 3 ]]\x1b[0m /tmp/gonb_1/main.go:31 +0x1d\nexit status 2\n"),
				errorOut("exit status 2", "exit status 2"),
			},
			kind:     KindPanic,
			line:     "cell 1: panic: open runs/notebook-shapes/config.json: no such file or directory (at Cell [4] Line 3)",
			reported: "(reported: ERROR: exit status 2)",
		},
		{
			name: "compile error, not the code shown on mouse-over",
			outputs: []map[string]any{
				htmlOut(gonbReport(`# gonb_1`,
					`<span class="gonb-err-hover-area"><span class="gonb-cell-line-info">Cell[3]: Line 2</span> <span class="gonb-err-location">/tmp/gonb_1/main.go:12:3: </span></span>undefined: LoadDat<div class="gonb-err-context">func main() {
	usage := `+"`"+`
attncap: decoy in the code GoNB shows on mouse-over`+"`"+`
<div class="gonb-err-line">	ds := LoadDat()
</div>}
</div>`)),
				errorOut(`failed to run "go build -o /tmp/gonb_1/gonb_1": exit status 1`,
					"Cell[3]: Line 2\nfunc main() {\n\tusage := `\nattncap: decoy`\n\tds := LoadDat()\n  ^\n\n\x1b[31mundefined: LoadDat\x1b[0m"),
			},
			kind: KindCompile,
			line: "cell 1: main.go:12:3: undefined: LoadDat (Cell[3]: Line 2) (reported: ERROR: failed to run",
		},
		{
			name: "notebook helper's own message",
			outputs: []map[string]any{
				stderr("attncap: no trained model in runs/notebook-shapes: run notebook 02 first\nexit status 1\n"),
				errorOut("exit status 1", "exit status 1"),
			},
			kind:     KindMessage,
			line:     "cell 1: attncap: no trained model in runs/notebook-shapes: run notebook 02 first (reported: ",
			reported: "exit status 1",
		},
		{
			name: "goimports not on PATH",
			outputs: []map[string]any{
				stderr("\nProgram goimports is not installed. It is used to automatically import\nmissing standard packages.\n"),
				errorOut("while trying to run goimports\n: exec: \"goimports\": executable file not found in $PATH"),
			},
			kind:     KindMissingTool,
			line:     "cell 1: Program goimports is not installed — put",
			hint:     "put $(go env GOPATH)/bin on the PATH Jupyter is started with",
			reported: "ERROR: while trying to run goimports",
		},
		{
			name: "module not found",
			outputs: []map[string]any{
				htmlOut(gonbReport(" failed to run &#34;go get&#34;: exit status 1", " main.go:7:2: no required module provides package github.com/attncap/attncap/captioner; to add it:")),
				errorOut(goGet),
			},
			kind: KindModule,
			line: "cell 1: main.go:7:2: no required module provides package github.com/attncap/attncap/captioner; to add it: — run the notebook's first cell",
		},
		{
			name:    "a real panic after harmless gopls log lines",
			outputs: []map[string]any{stderr(goplsLog + "panic: boom\n\ngoroutine 1 [running]:\nmain.main()\n")},
			kind:    KindPanic,
			line:    "cell 1: panic: boom",
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := Check(write(t, c.outputs, 0))
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Failures) != 1 || len(r.Problems) != 1 {
				t.Fatalf("want one failure, got %+v", r.Problems)
			}
			f, p := r.Failures[0], r.Problems[0]
			t.Log(p)
			if f.Kind != c.kind || f.Cell != 1 || !strings.HasPrefix(p, c.line) || !strings.Contains(p, c.hint) || !strings.Contains(p, c.reported) {
				t.Errorf("got %s %q\nwant %s %q…, hint %q, reported %q", f.Kind, p, c.kind, c.line, c.hint, c.reported)
			}
		})
	}
}

// goplsLog is what GoNB's log looks like when it stops gopls (klog header, kernel id, a stack
// trace from util.GetStackTrace), plus its other harmless lines.
const goplsLog = "I0912 10:11:12.123456    4242 exec.go:179] \x1b[43m[0189abcd]\x1b[0m killing gopls: \n" +
	"goroutine 1 [running]:\n" +
	"github.com/janpfeifer/gonb/internal/util.GetStackTrace()\n" +
	"\t/root/go/pkg/mod/github.com/janpfeifer/gonb@v0.11.5/internal/util/util.go:16 +0x45\n" +
	"github.com/janpfeifer/gonb/internal/goexec/goplsclient.(*Client).stopLocked(0xc0001b6000)\n" +
	"\t/root/go/pkg/mod/github.com/janpfeifer/gonb@v0.11.5/internal/goexec/goplsclient/exec.go:179 +0x3d\n" +
	"created by github.com/janpfeifer/gonb/internal/kernel.New in goroutine 1\n" +
	"\t/root/go/pkg/mod/github.com/janpfeifer/gonb@v0.11.5/internal/kernel/kernel.go:120 +0x1f\n" +
	"W0912 10:11:12.223456    4242 exec.go:124] [0189abcd] gopls failed with: signal: killed\n" +
	"E0912 10:11:10.000000    4242 main.go:191] [0189abcd] Error message\n" +
	"I0912 10:11:12.323456    4242 comms.go:60] [0189abcd] Failed to install WebSocket in front-end, used to communicate with programs, in particular widgets -- those will not work. Error message: timeout\n"

func TestHarmlessLogLinesPass(t *testing.T) {
	png := map[string]any{"output_type": "display_data", "data": map[string]any{"image/png": "iVBOR"}}
	r, err := Check(write(t, []map[string]any{png, stderr(goplsLog)}, 1))
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Problems) != 0 {
		t.Errorf("harmless GoNB log lines reported as %q", r.Problems)
	}
	for _, h := range HarmlessLogLines {
		if h.Pattern == "" || h.Why == "" || strings.Contains(h.Why, "\n") {
			t.Errorf("HarmlessLogLines entry %+v: want a pattern and a one-line explanation", h)
		}
	}
}

// docs/troubleshooting.md names every harmless GoNB log line nbcheck knows.
func TestReadmeListsHarmlessLogLines(t *testing.T) {
	readme, err := os.ReadFile("../../docs/troubleshooting.md")
	if err != nil {
		t.Skip(err)
	}
	for _, h := range HarmlessLogLines {
		if !strings.Contains(string(readme), "`"+h.Pattern+"`") {
			t.Errorf("docs/troubleshooting.md does not list %q", h.Pattern)
		}
	}
}
