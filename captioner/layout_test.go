package captioner_test

import (
	"encoding/json"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// The package graph keeps the layout of docs/architecture.md: only captioner (decoders.go)
// and the importers under captioner/convert (which write one decoder's variables) import a
// decoder implementation; the decoders, the encoder and the shared layers import
// nothing above them.
func TestPackagesImportOnlyBelowThemselves(t *testing.T) {
	cmd := exec.Command("go", "list", "-json", "github.com/attncap/attncap/...")
	out, err := cmd.Output()
	if err != nil {
		t.Skipf("go list: %v", err)
	}
	const mod = "github.com/attncap/attncap/"
	implementations := []string{mod + "captioner/decoder/lstm", mod + "captioner/decoder/transformer"}
	forbidden := map[string][]string{ // package → what it must not import
		"captioner/layers":              {mod + "captioner"},
		"captioner/encoder":             {mod + "captioner", mod + "captioner/decoder"},
		"captioner/decoder":             {mod + "captioner"},
		"captioner/decoder/lstm":        {mod + "captioner", mod + "captioner/decoder/transformer"},
		"captioner/decoder/transformer": {mod + "captioner", mod + "captioner/decoder/lstm"},
		"captioner/runfolder":           {mod},
		"captioner/metrics":             {mod + "captioner"},
		"captioner/viz":                 {mod + "captioner"},
		"captioner/decode":              {mod + "captioner/train"},
		"captioner/convert/tutorial":    {mod + "captioner/train", mod + "captioner/decode", mod + "serve"},
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	for {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimPrefix(p.ImportPath, mod)
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, mod) {
				continue
			}
			for _, impl := range implementations {
				if imp == impl && name != "captioner" && !strings.HasPrefix(name, "captioner/decoder/") && !strings.HasPrefix(name, "captioner/convert/") {
					t.Errorf("%s imports the decoder implementation %s: only captioner (decoders.go) and captioner/convert may", name, imp)
				}
			}
			for _, bad := range forbidden[name] {
				if imp == bad || (strings.HasSuffix(bad, "/") && strings.HasPrefix(imp, bad)) || (bad == mod+"captioner" && strings.HasPrefix(imp, bad+"/") && !allowedBelow(imp)) {
					t.Errorf("%s imports %s, which is above it", name, imp)
				}
			}
		}
	}
}

// allowedBelow are the captioner packages below the decoders and the encoder.
func allowedBelow(imp string) bool {
	for _, p := range []string{"layers", "decoder", "runfolder", "metrics", "internal/"} {
		if strings.HasPrefix(strings.TrimPrefix(imp, "github.com/attncap/attncap/captioner/"), p) {
			return true
		}
	}
	return false
}
