package tutorial

import (
	"bytes"
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/attncap/attncap/internal/pyref"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/captioner/internal/captest"
)

// The references are written by testdata/gen_tutorial.py with Debian's python3-torch: the
// tutorial's model (our own code from its published definition) with a briefly trained decoder,
// saved the ways its users save it, and what its caption.py computes on pictures of several
// sizes. ResNet-18 gives image-dependent captions; ResNet-101 is the published model's encoder.

var (
	refMu   sync.Mutex
	refDirs = map[string]string{}
)

// reference writes the reference files for a ResNet once per test binary, or skips the test
// when PyTorch is missing (CI sets ATTNCAP_REQUIRE_REFERENCES to fail instead).
func reference(t *testing.T, arch string) string {
	t.Helper()
	refMu.Lock()
	defer refMu.Unlock()
	if dir, ok := refDirs[arch]; ok {
		return dir
	}
	python := pyref.Require(t, "torch", "torchvision", "PIL")
	dir, err := os.MkdirTemp("", "attncap-tutorial-"+arch+"-")
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"testdata/gen_tutorial.py", dir, arch}
	if arch != "resnet18" { // the layouts are compared on ResNet-18; the others need only one file
		args = append(args, "legacy-only")
	}
	pyref.Run(t, python, args...)
	refDirs[arch] = dir
	return dir
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, dir := range refDirs {
		_ = os.RemoveAll(dir)
	}
	os.Exit(code)
}

type expected struct {
	Arch   string `json:"arch"`
	Images map[string]struct {
		Beams map[string]*struct {
			Words    []string `json:"words"`
			Score    float64  `json:"score"`
			Finished bool     `json:"finished"`
		} `json:"beams"`
		Scores []struct {
			Caption  string    `json:"caption"`
			LogProbs []float64 `json:"log_probs"`
		} `json:"scores"`
	} `json:"images"`
}

func loadExpected(t *testing.T, dir string) *expected {
	t.Helper()
	data, err := os.ReadFile(filepath.Join(dir, "expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	e := &expected{}
	if err := json.Unmarshal(data, e); err != nil {
		t.Fatal(err)
	}
	return e
}

func convert(t *testing.T, opts Options) (string, *Result) {
	t.Helper()
	if opts.Out == "" {
		opts.Out = filepath.Join(t.TempDir(), "model")
	}
	res, err := Convert(opts)
	if err != nil {
		t.Fatal(err)
	}
	return opts.Out, res
}

// Every way the tutorial's users save a model — whole modules in either serialisation, plain
// state_dicts, the decoder's state_dict with the ResNet's weights beside it — gives the same
// model folder, configured as the tutorial's model.
func TestConvertReadsEveryLayoutTheSame(t *testing.T) {
	dir := reference(t, "resnet18")
	wm := filepath.Join(dir, "WORDMAP.json")
	var want []byte
	for _, o := range []Options{
		{Checkpoint: filepath.Join(dir, "whole_legacy.pth.tar")},
		{Checkpoint: filepath.Join(dir, "whole_zip.pth.tar")},
		{Checkpoint: filepath.Join(dir, "state_dicts.pth")},
		{Checkpoint: filepath.Join(dir, "decoder_only.pth"), EncoderWeights: filepath.Join(dir, "encoder.safetensors")},
	} {
		o.WordMap = wm
		out, res := convert(t, o)
		c := res.Config
		if c.Encoder != "resnet18" || c.GridSize != 14 || c.ImageSize != 256 || c.Resize != "bilinear" || c.AttentionActivation != "relu" ||
			c.MaxLen != 52 || c.VocabSize != 30 || c.EmbedDim != 32 || c.HiddenDim != 64 || c.AttentionDim != 48 || c.Dropout != 0.5 {
			t.Errorf("%s: config %+v", o.Checkpoint, c)
		}
		got, err := os.ReadFile(filepath.Join(out, captioner.VariablesFile))
		if err != nil {
			t.Fatal(err)
		}
		if want == nil {
			want = got
		} else if !bytes.Equal(got, want) {
			t.Errorf("%s (%s) converts to other weights than whole_legacy.pth.tar", o.Checkpoint, res.Layout)
		}
	}
}

// The converted model captions the reference pictures as the tutorial's caption.py does:
// greedy (beam 1) and the shrinking beam at 3 and 5 give the same words and a total
// log-probability within 1e-4; attncap's own beam never finds a caption the model scores lower;
// each word's teacher-forced log-probability is within 1e-4 of PyTorch's.
func TestCaptionsAndScoresEqualTheTutorials(t *testing.T) {
	for _, arch := range []string{"resnet18", "resnet101"} {
		t.Run(arch, func(t *testing.T) {
			dir := reference(t, arch)
			want := loadExpected(t, dir)
			out, _ := convert(t, Options{Checkpoint: filepath.Join(dir, "whole_legacy.pth.tar"), WordMap: filepath.Join(dir, "WORDMAP.json")})
			m, err := captioner.OpenModel(captest.Backend(t), out)
			if err != nil {
				t.Fatal(err)
			}
			names := slices.Sorted(func(yield func(string) bool) {
				for n := range want.Images {
					if !yield(n) {
						return
					}
				}
			})
			paths := make([]string, len(names))
			for i, n := range names {
				paths[i] = filepath.Join(dir, "images", n)
			}
			for _, beam := range []int{1, 3, 5} {
				caps, err := decode.Images(m, paths, decode.Options{Beam: beam, BeamStyle: decode.BeamShrink, SkipAttention: true}, 8, nil)
				if err != nil {
					t.Fatal(err)
				}
				own, err := decode.Images(m, paths, decode.Options{Beam: beam, SkipAttention: true}, 8, nil)
				if err != nil {
					t.Fatal(err)
				}
				for i, n := range names {
					ref := want.Images[n].Beams[string(rune('0'+beam))]
					if ref == nil {
						t.Fatalf("%s beam %d: the reference found no finished caption", n, beam)
					}
					if strings.Join(caps[i].Words, " ") != strings.Join(ref.Words, " ") || math.Abs(caps[i].LogProb-ref.Score) > 1e-4 {
						t.Errorf("%s beam %d: %q (%.6f), the tutorial's %q (%.6f)", n, beam, caps[i].Words, caps[i].LogProb, ref.Words, ref.Score)
					}
					if own[i].LogProb < ref.Score-1e-4 {
						t.Errorf("%s beam %d: attncap's beam found %q (%.6f), lower than the tutorial's %q (%.6f)", n, beam, own[i].Words, own[i].LogProb, ref.Words, ref.Score)
					}
				}
			}
			var scorePaths, captions []string
			var refs [][]float64
			for i, n := range names {
				for _, s := range want.Images[n].Scores {
					scorePaths, captions, refs = append(scorePaths, paths[i]), append(captions, s.Caption), append(refs, s.LogProbs)
				}
			}
			scores, err := decode.ScoreImages(m, scorePaths, captions, 8)
			if err != nil {
				t.Fatal(err)
			}
			worst := 0.0
			for i, s := range scores {
				if len(s.LogProbs) != len(refs[i]) {
					t.Fatalf("%q: %d scores, the tutorial has %d", captions[i], len(s.LogProbs), len(refs[i]))
				}
				for j := range refs[i] {
					worst = math.Max(worst, math.Abs(s.LogProbs[j]-refs[i][j]))
				}
			}
			if worst > 1e-4 {
				t.Errorf("per-word log-probabilities differ from PyTorch's by up to %g (want ≤ 1e-4)", worst)
			}
			t.Logf("%s: largest per-word log-probability difference from PyTorch %.2g", arch, worst)
		})
	}
}

// Files that are not the tutorial's checkpoint, a word map that does not fit and an output
// folder in use are refused with what was found instead, and nothing is written.
func TestConvertRefusesWhatIsNotTheTutorials(t *testing.T) {
	dir := reference(t, "resnet18")
	wm := filepath.Join(dir, "WORDMAP.json")
	short := filepath.Join(t.TempDir(), "short.json")
	if err := os.WriteFile(short, []byte(`{"<pad>": 0, "a": 1, "<unk>": 2, "<start>": 3, "<end>": 4}`), 0o644); err != nil {
		t.Fatal(err)
	}
	used := t.TempDir()
	notes := filepath.Join(used, "notes.txt")
	if err := os.WriteFile(notes, []byte("mine"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		opts Options
		want string
	}{
		{Options{Checkpoint: filepath.Join(dir, "encoder.safetensors"), WordMap: wm}, "encoder.safetensors"},
		{Options{Checkpoint: filepath.Join(dir, "decoder_only.pth"), WordMap: wm}, "holds the decoder only"},
		{Options{Checkpoint: filepath.Join(dir, "whole_zip.pth.tar"), WordMap: short}, "word map"},
		{Options{Checkpoint: filepath.Join(dir, "whole_zip.pth.tar"), WordMap: filepath.Join(dir, "images", "img0.png")}, "img0.png"},
		{Options{Checkpoint: filepath.Join(dir, "whole_zip.pth.tar"), WordMap: wm, Out: used}, "not empty"},
		{Options{Checkpoint: filepath.Join(dir, "whole_zip.pth.tar"), WordMap: wm, Out: notes}, "not a folder"},
		{Options{Checkpoint: filepath.Join(dir, "whole_zip.pth.tar"), WordMap: wm, GridSize: 100000}, "grid 100000"},
	} {
		out := c.opts.Out
		if out == "" {
			out = filepath.Join(t.TempDir(), "model")
		}
		c.opts.Out = out
		_, err := Convert(c.opts)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s with %s: error %v, want one saying %q", c.opts.Checkpoint, c.opts.WordMap, err, c.want)
		}
		if _, statErr := os.Stat(filepath.Join(out, captioner.ConfigFile)); statErr == nil {
			t.Errorf("%s: a model folder was written despite the error", c.opts.Checkpoint)
		}
	}
	if data, err := os.ReadFile(notes); err != nil || string(data) != "mine" {
		t.Errorf("the file given as -out was touched: %q, %v", data, err)
	}
}
