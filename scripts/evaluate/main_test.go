package main

import (
	"bytes"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/metrics"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/datasets/text"
	"github.com/attncap/attncap/internal/atomicfile"
)

func writeTemp(t *testing.T, dir, name, content string) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

const captions = `{"images": [{"id": 1}, {"id": 2}], "annotations": [
	{"image_id": 1, "caption": "a dog runs on the grass"}, {"image_id": 2, "caption": "a cat sits on a mat"}]}`

func TestEvaluateScoresFilesAndWarnsAboutFewImagesOnStderr(t *testing.T) {
	dir := t.TempDir()
	a := writeTemp(t, dir, "captions_test.json", captions)
	r := writeTemp(t, dir, "results.json", `[{"image_id": 1, "caption": "a dog runs on the grass"}, {"image_id": 2, "caption": "a cat sits on a mat"}]`)
	out := filepath.Join(dir, "scores.json")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-annotations", a, "-results", r, "-json", out, "-meteor=false"}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	// Identical captions: BLEU and ROUGE-L 1; CIDEr-D 10 (every n-gram is in one image of two).
	want := "metric   score\nBleu_1   1.000000\nBleu_2   1.000000\nBleu_3   1.000000\nBleu_4   1.000000\nROUGE_L  1.000000\nCIDEr    10.000000\n"
	if stdout.String() != want {
		t.Fatalf("stdout:\n%s\nwant:\n%s", stdout.String(), want)
	}
	if !strings.HasPrefix(stderr.String(), "warning: CIDEr-D over 2 images is unstable:") {
		t.Fatalf("stderr: %q", stderr.String())
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var scores map[string]float64
	if err := json.Unmarshal(data, &scores); err != nil || len(scores) != 6 || strings.Contains(string(data), "unstable") {
		t.Fatalf("-json wrote %s (%v)", data, err)
	}
}

func TestEvaluateRefusesFilesWithoutCaptions(t *testing.T) {
	dir := t.TempDir()
	a := writeTemp(t, dir, "captions_test.json", captions)
	instances := writeTemp(t, dir, "instances_val2017.json", `{"images": [{"id": 1}], "annotations": [{"id": 7, "image_id": 1, "bbox": [0, 0, 2, 2], "category_id": 3}]}`)
	r := writeTemp(t, dir, "results.json", `[{"image_id": 1, "caption": "a dog"}, {"image_id": 2, "caption": "a cat"}]`)
	sentences := writeTemp(t, dir, "sentences.json", `[{"image_id": 1, "sentence": "a dog"}]`)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-annotations", instances, "-results", r},
			"evaluate: " + instances + `: annotations[0] (image_id 1) has no "caption" (it has "bbox", "category_id", "id", "image_id"); is this an instances (object detection) file? use a captions_*.json file` + "\n"},
		{[]string{"-annotations", a, "-results", sentences},
			"evaluate: " + sentences + `: entry 0 (image_id 1) has no "caption" (it has "image_id", "sentence"); each entry needs "image_id" and "caption"` + "\n"},
		{[]string{"-annotations", r, "-results", a},
			"evaluate: " + r + `: a JSON list, as a results file is; want a COCO captions annotation file (captions_*.json): {"images": [{"id": …, "file_name": …}, …], "annotations": [{"image_id": …, "caption": …}, …]} (were the annotation and results files swapped?)` + "\n"},
	} {
		var stdout, stderr bytes.Buffer
		if code := run(c.args, &stdout, &stderr); code != 1 || stdout.Len() != 0 || stderr.String() != c.want {
			t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant:\n%s", code, stdout.String(), stderr.String(), c.want)
		}
	}
}

// sharedMeteor is ../shared/meteor beside the repository (METEOR 1.5's data files and a tiny
// paraphrase table); the test is skipped when it is absent.
func sharedMeteor(t *testing.T) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "meteor")
	if _, err := os.Stat(filepath.Join(dir, "english.synsets")); err != nil {
		t.Skipf("no METEOR data at %s: %v", dir, err)
	}
	return dir
}

func TestEvaluateReportsMeteorUnderTheNameOfItsModules(t *testing.T) {
	data := sharedMeteor(t)
	dir := t.TempDir()
	a := writeTemp(t, dir, "captions_test.json", captions)
	r := writeTemp(t, dir, "results.json", `[{"image_id": 1, "caption": "a dog runs on the grass"}, {"image_id": 2, "caption": "a cat sits on a mat"}]`)
	for _, c := range []struct {
		flags []string
		name  string
		table string
	}{
		// Identical captions: METEOR 1 (P = R = 1, one chunk).
		{[]string{"-meteor-data", data}, "METEOR_noparaphrase",
			"metric              score\nBleu_1              1.000000\nBleu_2              1.000000\nBleu_3              1.000000\nBleu_4              1.000000\n" +
				"METEOR_noparaphrase 1.000000\nROUGE_L             1.000000\nCIDEr               10.000000\n"},
		{[]string{"-meteor-data", data, "-meteor-paraphrase", filepath.Join(data, "paraphrase-sample.gz")}, "METEOR",
			"metric   score\nBleu_1   1.000000\nBleu_2   1.000000\nBleu_3   1.000000\nBleu_4   1.000000\nMETEOR   1.000000\nROUGE_L  1.000000\nCIDEr    10.000000\n"},
	} {
		out := filepath.Join(dir, c.name+".json")
		var stdout, stderr bytes.Buffer
		if code := run(append([]string{"-annotations", a, "-results", r, "-json", out}, c.flags...), &stdout, &stderr); code != 0 {
			t.Fatalf("exit %d: %s", code, stderr.String())
		}
		if stdout.String() != c.table {
			t.Errorf("stdout:\n%s\nwant:\n%s", stdout.String(), c.table)
		}
		note := strings.Contains(stderr.String(), "note: METEOR_noparaphrase is METEOR 1.5 without its paraphrase module")
		if note != (c.name == "METEOR_noparaphrase") {
			t.Errorf("%s: stderr %q", c.name, stderr.String())
		}
		raw, err := os.ReadFile(out)
		if err != nil {
			t.Fatal(err)
		}
		var scores map[string]float64
		if err := json.Unmarshal(raw, &scores); err != nil || len(scores) != 7 || scores[c.name] < 0.999999 {
			t.Errorf("-json wrote %s (%v), want 7 scores with %s", raw, err, c.name)
		}
	}
}

func TestEvaluateNamesMissingMeteorData(t *testing.T) {
	dir := t.TempDir()
	a := writeTemp(t, dir, "captions_test.json", captions)
	r := writeTemp(t, dir, "results.json", `[{"image_id": 1, "caption": "a dog"}, {"image_id": 2, "caption": "a cat"}]`)
	empty := t.TempDir()
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"-meteor-data", empty}, "evaluate: METEOR data folder " + empty + " lacks english.synsets, english.exceptions, english.words, english.prefixes"},
		{[]string{"-meteor-paraphrase", a}, "evaluate: paraphrase table " + a + ": not a gzip file"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(append([]string{"-annotations", a, "-results", r}, c.flags...), &stdout, &stderr)
		if code != 1 || stdout.Len() != 0 || !strings.HasPrefix(stderr.String(), c.want) || !strings.Contains(stderr.String(), "(-meteor=false scores without METEOR)") {
			t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant %s…", code, stdout.String(), stderr.String(), c.want)
		}
	}
}

// TestEvaluateWithoutDefaultMeteorDataWarns: offline, with no data named, the scores come
// without METEOR and a warning (as in training's final test), instead of no scores at all.
func TestEvaluateWithoutDefaultMeteorDataWarns(t *testing.T) {
	dir := t.TempDir()
	a := writeTemp(t, dir, "captions_test.json", captions)
	r := writeTemp(t, dir, "results.json", `[{"image_id": 1, "caption": "a dog"}, {"image_id": 2, "caption": "a cat"}]`)
	offline := httptest.NewServer(http.NotFoundHandler())
	defer offline.Close()
	saved := metrics.MeteorMirrors
	metrics.MeteorMirrors = []string{offline.URL + "/"}
	defer func() { metrics.MeteorMirrors = saved }()
	t.Setenv(metrics.MeteorDataEnv, "")
	t.Setenv("XDG_CACHE_HOME", t.TempDir())
	t.Setenv("HOME", t.TempDir())
	out := filepath.Join(dir, "scores.json")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-annotations", a, "-results", r, "-json", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr.String())
	}
	if !strings.Contains(stderr.String(), "warning: scoring without METEOR: METEOR data: english.synsets") {
		t.Errorf("stderr lacks the warning:\n%s", stderr.String())
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var scores map[string]float64
	if err := json.Unmarshal(raw, &scores); err != nil || len(scores) != 6 || scores["CIDEr"] == 0 || strings.Contains(string(raw), "METEOR") {
		t.Errorf("-json wrote %s (%v), want the 6 scores without METEOR", raw, err)
	}
}

// shapesFiles generates a small shapes set of n images and writes its test split as a COCO
// annotation file and, as results, each image's reference number ref.
func shapesFiles(t *testing.T, n, ref int) (data, ann, res string, test []datasets.Example) {
	t.Helper()
	dir := t.TempDir()
	data = filepath.Join(dir, "shapes")
	if err := datasets.GenerateShapes(data, datasets.ShapesOptions{N: n, Seed: 3, MinSize: 48, MaxSize: 64}); err != nil {
		t.Fatal(err)
	}
	ds, err := datasets.Load(data, datasets.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	test = ds.Split(datasets.Test)
	var a metrics.COCOAnnotations
	var results []metrics.COCOResult
	for i, e := range test {
		id := datasets.IntID(int64(i))
		a.Images = append(a.Images, datasets.COCOImage{ID: id, FileName: filepath.Base(e.Image)})
		for j, c := range e.Captions {
			a.Annotations = append(a.Annotations, datasets.COCOAnnotation{ID: datasets.IntID(int64(10*i + j)), ImageID: id, Caption: c})
		}
		results = append(results, metrics.COCOResult{ImageID: id, Caption: e.Captions[ref]})
	}
	ann = filepath.Join(dir, "refs.json")
	if err := atomicfile.WriteJSON(ann, a); err != nil {
		t.Fatal(err)
	}
	res = filepath.Join(dir, "results.json")
	if err := metrics.WriteCOCOResults(res, results); err != nil {
		t.Fatal(err)
	}
	return data, ann, res, test
}

// readObjects returns the "objects" of a -json file (nil when absent).
func readObjects(t *testing.T, path string) *metrics.ObjectScores {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r metrics.ScoreReport
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return r.Objects
}

func TestEvaluateFilesReportsObjectAccuracyWithGroundTruth(t *testing.T) {
	data, ann, res, test := shapesFiles(t, 20, 0) // the first reference names every object: all right
	truth := filepath.Join(data, datasets.ShapesObjectsFile)
	out := filepath.Join(t.TempDir(), "scores.json")
	wantTable := "\nobject accuracy (" + truth + "): does the caption name exactly the image's objects?\nobject accuracy"
	for _, flags := range [][]string{{"-data", data}, {"-objects", truth}, {"-objects", data}} {
		var stdout, stderr bytes.Buffer
		if code := run(append([]string{"-annotations", ann, "-results", res, "-meteor=false", "-json", out}, flags...), &stdout, &stderr); code != 0 {
			t.Fatalf("%v: exit %d: %s", flags, code, stderr.String())
		}
		if !strings.Contains(stdout.String(), wantTable) || !strings.Contains(stdout.String(), "\nall images                 2       2        1.0000\n") {
			t.Errorf("%v: stdout:\n%s", flags, stdout.String())
		}
		if obj := readObjects(t, out); obj == nil || obj.Images != len(test) || obj.Correct != len(test) || obj.File != truth {
			t.Errorf("%v: -json objects %+v", flags, obj)
		}
	}

	// A generated set that lacks the file (made before it existed) gets it.
	os.Remove(truth)
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-annotations", ann, "-results", res, "-meteor=false", "-data", data}, &stdout, &stderr); code != 0 ||
		!strings.Contains(stdout.String(), wantTable) {
		t.Errorf("ground truth recomputed: exit %d, stdout:\n%s\nstderr: %s", code, stdout.String(), stderr.String())
	}

	// No ground truth given or beside -data: scores only, no error.
	stdout.Reset()
	if code := run([]string{"-annotations", ann, "-results", res, "-meteor=false", "-json", out}, &stdout, &stderr); code != 0 || strings.Contains(stdout.String(), "object") {
		t.Errorf("exit %d, stdout:\n%s\nstderr: %s", code, stdout.String(), stderr.String())
	}
	if obj := readObjects(t, out); obj != nil {
		t.Errorf("objects without ground truth: %+v", obj)
	}
	if code := run([]string{"-annotations", ann, "-results", res, "-meteor=false", "-data", t.TempDir()}, &stdout, &stderr); code != 0 {
		t.Errorf("-data without ground truth: exit %d: %s", code, stderr.String())
	}

	// Ground truth named but missing or broken: an error naming it.
	missing := filepath.Join(t.TempDir(), "nope.json")
	stdout.Reset()
	stderr.Reset()
	if code := run([]string{"-annotations", ann, "-results", res, "-meteor=false", "-objects", missing}, &stdout, &stderr); code != 1 ||
		!strings.HasPrefix(stderr.String(), "evaluate: shapes ground truth "+missing+": no such file") {
		t.Errorf("missing -objects: exit %d, stderr %q", code, stderr.String())
	}
	stderr.Reset()
	if code := run([]string{"-annotations", ann, "-results", res, "-meteor=false", "-objects", ann}, &stdout, &stderr); code != 1 ||
		!strings.HasPrefix(stderr.String(), "evaluate: shapes ground truth "+ann+": ") {
		t.Errorf("-objects of the wrong kind: exit %d, stderr %q", code, stderr.String())
	}
}

func TestEvaluateFilesCountsTheGenericReferenceWrongOnThreeObjects(t *testing.T) {
	// Test split: ten images, seven with three objects (1, 3, 3, 3, 2, 2, 3, 3, 3, 3).
	data, ann, res, _ := shapesFiles(t, 100, 4) // "there are three shapes on a noisy background including a …"
	truth, err := datasets.LoadShapesObjects(data)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "scores.json")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-annotations", ann, "-results", res, "-meteor=false", "-data", data, "-json", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	obj := readObjects(t, out)
	a, _ := metrics.LoadCOCOAnnotations(ann)
	want := 0
	for _, img := range a.Images {
		if im, _ := truth.Image(img.FileName); len(im.Objects) < 3 {
			want++
		}
	}
	if obj == nil || obj.Images != 10 || want != 3 || obj.Correct != want {
		t.Errorf("objects %+v, want %d correct (the images with fewer than three objects)", obj, want)
	}
}

// The checkpoint form reports object accuracy for a shapes set (an untrained model's captions:
// what they say does not matter, that they are judged does).
func TestEvaluateCheckpointReportsObjectAccuracy(t *testing.T) {
	data, _, _, test := shapesFiles(t, 20, 0)
	backend, _, err := captioner.NewBackend("go")
	if err != nil {
		t.Fatal(err)
	}
	cfg := captioner.DefaultConfig("tiny")
	cfg.ImageSize, cfg.EmbedDim, cfg.HiddenDim, cfg.AttentionDim, cfg.MaxLen = 32, 16, 32, 16, 8
	m, err := captioner.NewModel(backend, cfg, text.BuildVocab([][]string{strings.Fields("a red blue circle square on the left of")}, 1))
	if err != nil {
		t.Fatal(err)
	}
	modelDir := filepath.Join(t.TempDir(), "model")
	if err := m.Save(modelDir); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "scores.json")
	var stdout, stderr bytes.Buffer
	if code := run([]string{"-checkpoint", modelDir, "-data", data, "-split", "test", "-beam", "1", "-meteor=false", "-json", out}, &stdout, &stderr); code != 0 {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if !strings.Contains(stdout.String(), "\nobject accuracy ("+filepath.Join(data, datasets.ShapesObjectsFile)+")") {
		t.Errorf("stdout:\n%s", stdout.String())
	}
	if obj := readObjects(t, out); obj == nil || obj.Images != len(test) {
		t.Errorf("objects %+v, want %d images judged", obj, len(test))
	}
	// A ground truth that does not list the split's images is an error naming it.
	other := filepath.Join(t.TempDir(), "other.json")
	os.WriteFile(other, []byte(`{"images": [{"file_name": "x.jpg", "width": 5, "height": 5, "objects": []}]}`), 0o644)
	stderr.Reset()
	if code := run([]string{"-checkpoint", modelDir, "-data", data, "-beam", "1", "-meteor=false", "-objects", other}, &stdout, &stderr); code != 1 ||
		!strings.Contains(stderr.String(), "evaluate: object accuracy: "+other+" lists no image shapes_0000") {
		t.Errorf("exit %d, stderr %q", code, stderr.String())
	}
}
