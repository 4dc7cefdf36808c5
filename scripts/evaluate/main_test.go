package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
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
