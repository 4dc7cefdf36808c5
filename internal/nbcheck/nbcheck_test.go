package nbcheck

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func write(t *testing.T, outputs []map[string]any, minImages int) string {
	t.Helper()
	nb := map[string]any{
		"cells":    []any{map[string]any{"cell_type": "code", "source": "x", "outputs": outputs}},
		"metadata": map[string]any{"attncap": map[string]any{"min_images": minImages}},
	}
	data, _ := json.Marshal(nb)
	p := filepath.Join(t.TempDir(), "nb.ipynb")
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestCheck(t *testing.T) {
	png := map[string]any{"output_type": "display_data", "data": map[string]any{"image/png": "iVBOR"}}
	html := map[string]any{"output_type": "display_data", "data": map[string]any{"text/html": []any{`<img src="data:image/png;base64,x">`}}}
	cases := []struct {
		name      string
		outputs   []map[string]any
		min       int
		wantFail  string
		wantCount int
	}{
		{"good", []map[string]any{png, html, {"output_type": "stream", "name": "stdout", "text": "panic: only on stdout"}}, 2, "", 2},
		{"panic", []map[string]any{{"output_type": "stream", "name": "stderr", "text": []any{"panic: boom\n", "goroutine 1 [running]:\n"}}}, 0, "panic:", 0},
		{"exit", []map[string]any{{"output_type": "stream", "name": "stderr", "text": "exit status 3"}}, 0, "exit status", 0},
		{"error", []map[string]any{{"output_type": "error", "ename": "E", "evalue": "bad"}}, 0, "error output", 0},
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
