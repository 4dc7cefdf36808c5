// Package nbcheck checks executed Jupyter notebooks. `jupyter nbconvert --execute` exits 0 when
// a GoNB cell panics or exits with an error (only compile errors make it fail), so CI reads the
// executed notebook instead: any error output, any stderr stream reporting a panic, a failed
// exit status or a compile error, or fewer pictures than the notebook's metadata promises
// ("attncap": {"min_images": N}) fails it.
package nbcheck

import (
	"encoding/json"
	"fmt"
	"os"
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

// Result summarises one notebook.
type Result struct {
	Images   int
	Problems []string
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
		for _, o := range c.Outputs {
			switch o.OutputType {
			case "error":
				r.Problems = append(r.Problems, fmt.Sprintf("cell %d: error output %s: %s", i, o.EName, o.EValue))
			case "stream":
				if o.Name != "stderr" {
					continue
				}
				text := joined(o.Text)
				for _, m := range failureMarkers {
					if strings.Contains(text, m) {
						r.Problems = append(r.Problems, fmt.Sprintf("cell %d: stderr reports %q: %s", i, m, firstLine(text, m)))
						break
					}
				}
			case "display_data", "execute_result", "update_display_data":
				if _, ok := o.Data["image/png"]; ok {
					r.Images++
				} else if html := joined(o.Data["text/html"]); strings.Contains(html, "<img") {
					r.Images++
				}
			}
		}
	}
	if min := nb.Metadata.Attncap.MinImages; r.Images < min {
		r.Problems = append(r.Problems, fmt.Sprintf("%d pictures in the outputs, the notebook promises %d", r.Images, min))
	}
	return r, nil
}

func firstLine(text, marker string) string {
	i := strings.Index(text, marker)
	line := text[i:]
	if j := strings.IndexByte(line, '\n'); j >= 0 {
		line = line[:j]
	}
	if len(line) > 200 {
		line = line[:200] + "…"
	}
	return line
}
