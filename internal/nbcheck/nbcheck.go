// Package nbcheck checks executed Jupyter notebooks. `jupyter nbconvert --execute` exits 0 when
// a GoNB cell panics or exits with an error (only compile errors make it fail), so CI reads the
// executed notebook instead: any error output, any stderr stream reporting a panic, a failed
// exit status or a compile error, any GoNB error report (an HTML display styled as stderr), or
// fewer pictures than the notebook's metadata promises ("attncap": {"min_images": N}) fails it.
//
// GoNB's own report of a failed cell is often vague (`failed to run ".../go get": exit status 1`)
// while the reason sits elsewhere in the cell's outputs, e.g. in the HTML error report. For each
// failed cell Check reports the most specific cause found in all of the cell's outputs (see
// [Failure]), with a hint when the cause is the environment Jupyter was started in.
package nbcheck

import (
	"encoding/json"
	"fmt"
	"html"
	"os"
	"regexp"
	"strings"
)

type notebook struct {
	Cells []struct {
		CellType string   `json:"cell_type"`
		Source   any      `json:"source"`
		Outputs  []output `json:"outputs"`
	} `json:"cells"`
	Metadata struct {
		Attncap struct {
			MinImages int `json:"min_images"`
		} `json:"attncap"`
	} `json:"metadata"`
}

type output struct {
	OutputType string         `json:"output_type"`
	Name       string         `json:"name"`
	Text       any            `json:"text"`
	Data       map[string]any `json:"data"`
	EName      string         `json:"ename"`
	EValue     string         `json:"evalue"`
	Traceback  []string       `json:"traceback"`
}

// joined flattens a notebook string field (a string or a list of strings).
func joined(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case []any:
		var b strings.Builder
		for _, s := range t {
			if str, ok := s.(string); ok {
				b.WriteString(str)
			}
		}
		return b.String()
	}
	return ""
}

// failureMarkers in a stderr stream mean a cell failed even though Jupyter reported success.
var failureMarkers = []string{"panic:", "exit status", "goroutine 1 [running]", "Error: ", "cannot use ", "undefined: ", "declared and not used"}

// gonbErrorHTML marks the HTML report GoNB displays for a failed cell (compile errors, a failed
// `go get`, a panic's stack trace mapped to cell lines).
const gonbErrorHTML = `data-mime-type="application/vnd.jupyter.stderr"`

// Result summarises one notebook.
type Result struct {
	Images int
	// Problems has one line per problem: each failed cell's Failure.String(), then a missing
	// pictures line if the notebook has fewer than it promises.
	Problems []string
	// Failures are the failed cells, in notebook order.
	Failures []Failure
}

// Kinds of Failure.Kind, from the most specific.
const (
	KindGoVersion   = "go version"   // go.mod needs a newer Go than the one Jupyter's kernel runs
	KindToolchain   = "toolchain"    // GOTOOLCHAIN could not provide the Go toolchain
	KindMissingTool = "missing tool" // go, goimports or gopls not on Jupyter's PATH
	KindModule      = "module"       // a package or module the cell imports cannot be found
	KindMessage     = "message"      // a notebook helper's own "attncap: ..." message
	KindCompile     = "compile"      // a compile error, file.go:line:col: message
	KindPanic       = "panic"        // the cell panicked
	KindReported    = "reported"     // nothing more specific: what Jupyter/GoNB reported
)

// Failure is one failed cell.
type Failure struct {
	Cell int    // index of the cell in the notebook, counting from 0 (markdown cells count)
	Kind string // one of the Kind constants
	// Cause is the most specific line found in the cell's outputs (stderr streams, text/plain,
	// text/html with the tags stripped, error outputs' evalue and traceback; `attncap:` lines
	// also on stdout), e.g. `go: go.mod requires go >= 1.27.3 (running go 1.26.8; GOTOOLCHAIN=local)`.
	Cause string
	// Hint says what to do for causes in the environment Jupyter was started in; "" otherwise.
	Hint string
	// Reported is what Jupyter/GoNB reported as the failure: the error output's "ename: evalue"
	// (first line), else the stderr line with a failure marker, else the first line of GoNB's
	// HTML error report; often vague: `ERROR: failed to run ".../go get": exit status 1`.
	Reported string
}

// String is the failure on one line, root cause first:
// "cell 3: CAUSE — HINT (reported: REPORTED)".
func (f Failure) String() string {
	s := fmt.Sprintf("cell %d: %s", f.Cell, f.Cause)
	if f.Hint != "" {
		s += " — " + f.Hint
	}
	if f.Reported != "" && !strings.Contains(f.Cause, f.Reported) {
		s += " (reported: " + f.Reported + ")"
	}
	return s
}

// Check reads an executed notebook and returns what is wrong with it (nothing: it passed).
func Check(path string) (Result, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Result{}, err
	}
	var nb notebook
	if err := json.Unmarshal(data, &nb); err != nil {
		return Result{}, fmt.Errorf("%s: not a notebook: %w", path, err)
	}
	var r Result
	for i, c := range nb.Cells {
		if c.CellType != "code" {
			continue
		}
		var texts []text // everything the cell printed, to look for the cause in
		// What reported the failure: an error output, else a stderr line, else GoNB's HTML report.
		const byError, byStderr, byHTML = 0, 1, 2
		var reported [3]string
		report := func(by int, s string) {
			if reported[by] == "" {
				reported[by] = clip(s)
			}
		}
		for _, o := range c.Outputs {
			switch o.OutputType {
			case "error":
				report(byError, strings.TrimSpace(o.EName+": "+firstNonEmptyLine(stripANSI(o.EValue))))
				texts = append(texts, text{o.EValue, false})
				for _, tb := range o.Traceback {
					texts = append(texts, text{tracebackText(tb), false})
				}
			case "stream":
				t := withoutHarmless(stripANSI(joined(o.Text)))
				if o.Name != "stderr" {
					texts = append(texts, text{t, true})
					continue
				}
				texts = append(texts, text{t, false})
				for _, m := range failureMarkers {
					if strings.Contains(t, m) {
						report(byStderr, lineWith(t, m))
						break
					}
				}
			case "display_data", "execute_result", "update_display_data":
				if _, ok := o.Data["image/png"]; ok {
					r.Images++
				} else if h := joined(o.Data["text/html"]); strings.Contains(h, "<img") {
					r.Images++
				}
				if p := joined(o.Data["text/plain"]); p != "" {
					texts = append(texts, text{withoutHarmless(stripANSI(p)), false})
				}
				if h := joined(o.Data["text/html"]); h != "" {
					t := withoutHarmless(htmlText(h))
					texts = append(texts, text{t, false})
					if strings.Contains(h, gonbErrorHTML) {
						report(byHTML, firstNonEmptyLine(t))
					}
				}
			}
		}
		first := ""
		for _, rep := range reported {
			if first == "" {
				first = rep
			}
		}
		if first == "" {
			continue // the cell did not fail
		}
		f := findCause(texts)
		f.Cell, f.Reported = i, first
		if f.Kind == "" {
			f.Kind, f.Cause = KindReported, f.Reported
		}
		r.Failures = append(r.Failures, f)
		r.Problems = append(r.Problems, f.String())
	}
	if min := nb.Metadata.Attncap.MinImages; r.Images < min {
		r.Problems = append(r.Problems, fmt.Sprintf("%d pictures in the outputs, the notebook promises %d", r.Images, min))
	}
	return r, nil
}

// text is one output's text; stdout is searched for `attncap:` messages only.
type text struct {
	s      string
	stdout bool
}

// A cause pattern: a line matching re gives the cause, cause(line, submatches) (the whole line
// if cause is nil) and hint(submatches).
type pattern struct {
	kind   string
	re     *regexp.Regexp
	cause  func(line string, m []string) string
	hint   func(m []string) string
	stdout bool // also look in stdout streams
}

const (
	hintToolchain = "start Jupyter with GOTOOLCHAIN=%s in its environment (see README Notebooks)"
	hintGoBin     = "put $(go env GOPATH)/bin on the PATH Jupyter is started with (go install goimports and gopls there, see README Notebooks)"
	hintGo        = "put the Go toolchain's bin folder on the PATH Jupyter is started with (see README Notebooks)"
	hintModule    = "run the notebook's first cell (go mod edit -replace …) before the others, with the notebook opened from this checkout's notebooks/ folder"
	// defaultToolchain is go.mod's go line, for hints where the error does not name a version.
	defaultToolchain = "go1.27.3"
)

// patterns, the most specific first: the first one that matches a line anywhere in a failed
// cell's outputs gives its cause.
var patterns = []pattern{
	{kind: KindGoVersion, re: regexp.MustCompile(`requires go >= ?v?([0-9][0-9.a-z]*)`),
		hint: func(m []string) string { return fmt.Sprintf(hintToolchain, "go"+m[1]) }},
	{kind: KindToolchain, re: regexp.MustCompile(`GOTOOLCHAIN|toolchain not available|invalid toolchain`),
		hint: func([]string) string { return fmt.Sprintf(hintToolchain, defaultToolchain) }},
	{kind: KindMissingTool, re: regexp.MustCompile(`"?([\w.-]+)"?: executable file not found|Program (\w+) is not installed`), hint: toolHint,
		cause: func(line string, m []string) string {
			if m[2] != "" { // GoNB's own paragraph: its first sentence
				return "Program " + m[2] + " is not installed"
			}
			return line
		}},
	{kind: KindModule, re: regexp.MustCompile(`cannot find module|no required module provides package`),
		hint: func([]string) string { return hintModule }},
	{kind: KindMessage, re: regexp.MustCompile(`^\s*(attncap: .*)`), stdout: true,
		cause: func(_ string, m []string) string { return m[1] }},
	{kind: KindCompile, re: regexp.MustCompile(`(?:(Cell(?:\[\d+\])?:? Line \d+)\s+)?\S*?([^\s/]+\.go:\d+:\d+): (.*)`),
		cause: func(_ string, m []string) string {
			if m[1] != "" {
				return fmt.Sprintf("%s: %s (%s)", m[2], m[3], m[1])
			}
			return m[2] + ": " + m[3]
		}},
	{kind: KindPanic, re: regexp.MustCompile(`^\s*(panic: .*)`), cause: func(_ string, m []string) string { return m[1] }},
}

func toolHint(m []string) string {
	tool := m[1] + m[2]
	switch tool {
	case "goimports", "gopls":
		return hintGoBin
	case "go":
		return hintGo
	}
	return "install " + tool + " on the PATH Jupyter is started with"
}

var cellStackRef = regexp.MustCompile(`\[\[ Cell (\[\d+\] )?Line \d+ \]\]`)

// findCause returns the most specific cause in texts (Kind "" if none).
func findCause(texts []text) Failure {
	for _, p := range patterns {
		for _, t := range texts {
			if t.stdout && !p.stdout {
				continue
			}
			lines := strings.Split(t.s, "\n")
			for li, line := range lines {
				m := p.re.FindStringSubmatch(line)
				if m == nil {
					continue
				}
				cause := line
				if p.cause != nil {
					cause = p.cause(line, m)
				}
				if p.kind == KindPanic { // the first cell line in the stack trace is where it panicked
					for _, l := range lines[li+1:] {
						if ref := cellStackRef.FindString(l); ref != "" {
							cause += " (at " + strings.Trim(ref, "[] ") + ")"
							break
						}
					}
				}
				f := Failure{Kind: p.kind, Cause: clip(strings.TrimLeft(strings.TrimSpace(cause), ": "))}
				if p.hint != nil {
					f.Hint = p.hint(m)
				}
				return f
			}
		}
	}
	return Failure{}
}

// HarmlessLogLine is a line GoNB logs (to the terminal Jupyter runs in, or to a notebook's stderr
// when a cell runs GoNB itself) on runs that work.
type HarmlessLogLine struct {
	Pattern string // a substring of the line
	Why     string // one line: why it is harmless
}

// HarmlessLogLines are GoNB (v0.11.5) log lines that look like errors but are not; Check ignores
// them (and a goroutine stack trace right after "killing gopls:") when deciding whether a cell
// failed. GoNB's log lines start with klog's header, e.g. `I0912 10:11:12.123456  4242 exec.go:179]`
// (I info, W warning, E error) and the kernel's id in brackets.
var HarmlessLogLines = []HarmlessLogLine{
	{"killing gopls:", "GoNB stops its gopls helper when the kernel shuts down or restarts and logs where from; the goroutine stack trace that follows is not a crash"},
	{"gopls failed with: signal: killed", "gopls exiting after GoNB stopped it (the line after \"killing gopls\")"},
	{"Shutting down in response to shutdown_request", "Jupyter closing the kernel at the end of a run"},
	{"triggers kernel stop", "the kernel stopping on the signal Jupyter sends at the end of a run"},
	{"] Info message", "GoNB started with --extra_log writes one test line per log level at start-up"},
	{"] Warning message", "GoNB's start-up test line for warnings (with --extra_log)"},
	{"] Error message", "GoNB's start-up test line for errors (with --extra_log); nothing failed"},
	{"Failed to install WebSocket in front-end", "headless runs (nbconvert) have no browser for widgets; these notebooks use none"},
	{"Could not find Jupyter root directory", "only %wasm cells need it; headless runs don't set JPY_PARENT_PID"},
	{"comm_close\" received, but not implemented", "GoNB says itself: likely no impact"},
	{"Program gopls is not installed", "gopls only powers autocompletion and hover docs; cells still run (goimports, though, is required)"},
}

var (
	cellInfo   = regexp.MustCompile(`^Cell(\[\d+\])?:? Line \d+$`)
	ansi       = regexp.MustCompile("\x1b\\[[0-9;?]*[A-Za-z]")
	stackLine  = regexp.MustCompile(`^(goroutine \d+ \[.*\]:|\t.*|created by .*|\S+\(.*\)|)$`)
	blockTag   = regexp.MustCompile(`(?i)<(br|/?div|/?p|/?pre|/?tr|/?li|/?h\d)\b[^>]*>`)
	anyTag     = regexp.MustCompile(`<[^>]*>`)
	styleBlock = regexp.MustCompile(`(?is)<(style|script)\b.*?</(style|script)>`)
	divTag     = regexp.MustCompile(`(?i)<(/?)div\b[^>]*>`)
)

func stripANSI(s string) string { return ansi.ReplaceAllString(s, "") }

// withoutHarmless drops HarmlessLogLines (and a stack trace after "killing gopls:") from s.
func withoutHarmless(s string) string {
	lines := strings.Split(s, "\n")
	out := lines[:0]
	inTrace := false
	for _, l := range lines {
		if inTrace && l != "" && stackLine.MatchString(l) {
			continue
		}
		inTrace = false
		harmless := false
		for _, h := range HarmlessLogLines {
			if strings.Contains(l, h.Pattern) {
				harmless, inTrace = true, h.Pattern == "killing gopls:"
				break
			}
		}
		if !harmless {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// htmlText is the text an HTML output shows: styles, scripts and GoNB's hidden code context
// (shown on mouse-over) dropped, block tags as line breaks, other tags stripped, entities
// unescaped.
func htmlText(h string) string {
	h = styleBlock.ReplaceAllString(h, "")
	h = dropDivs(h, "gonb-err-context")
	h = blockTag.ReplaceAllString(h, "\n")
	h = anyTag.ReplaceAllString(h, "")
	return html.UnescapeString(h)
}

// dropDivs removes the <div>s of the given class, with everything in them (nested divs too).
func dropDivs(h, class string) string {
	for {
		start := strings.Index(h, `<div class="`+class+`"`)
		if start < 0 {
			return h
		}
		end, depth := len(h), 0
		for _, m := range divTag.FindAllStringSubmatchIndex(h[start:], -1) {
			if h[start+m[2]:start+m[3]] == "/" {
				depth--
			} else {
				depth++
			}
			if depth == 0 {
				end = start + m[1]
				break
			}
		}
		h = h[:start] + h[end:]
	}
}

// tracebackText is the message of a GoNB traceback entry: with a cell line and code context
// ("Cell[3]: Line 5", code lines, a caret line, then the message) only the first and last line.
func tracebackText(tb string) string {
	lines := strings.Split(strings.TrimRight(stripANSI(tb), "\n"), "\n")
	if len(lines) > 2 && cellInfo.MatchString(lines[0]) {
		return lines[0] + " " + lines[len(lines)-1]
	}
	return strings.Join(lines, "\n")
}

func firstNonEmptyLine(s string) string {
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return ""
}

// lineWith is the line of text holding marker, from the marker on.
func lineWith(text, marker string) string {
	line := text[strings.Index(text, marker):]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	return line
}

func clip(s string) string {
	s = strings.TrimSpace(s)
	if r := []rune(s); len(r) > 240 {
		return string(r[:240]) + "…"
	}
	return s
}
