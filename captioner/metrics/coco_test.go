package metrics

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attncap/attncap/datasets"
)

// writeTemp writes content to a file named name in a fresh temporary folder.
func writeTemp(t *testing.T, name, content string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// threeImages is a small corpus scored by pycocoevalcap's own Bleu, Rouge and Cider scorers
// (salaniz/pycocoevalcap, fed these already tokenized captions):
//
//	Bleu_1 0.7999999999466668  Bleu_2 0.6324555319862418  Bleu_3 3.5421952303004045e-06
//	Bleu_4 9.277192278053659e-09  ROUGE_L 0.6093807282134841  CIDEr 1.462089167125673
var threeImages = []struct {
	id, candidate string
	refs          []string
}{
	{"dog_01", "a dog runs on the grass", []string{"a brown dog runs across the grass", "a dog is running outside", "the dog plays in a field"}},
	{"cat_02", "a cat sits on a mat", []string{"a cat is sitting on a red mat", "a black cat rests"}},
	{"bird_03", "two birds fly", []string{"two birds are flying over the sea", "birds in the sky"}},
}

// threeImageFiles writes threeImages as an annotation and a results file, with image ids made
// by id from the image's index and string id.
func threeImageFiles(t *testing.T, id func(i int, s string) string) (annotations, results string) {
	var images, anns, res []string
	n := 0
	for i, img := range threeImages {
		images = append(images, fmt.Sprintf(`{"id": %s, "file_name": "%s.jpg"}`, id(i, img.id), img.id))
		for _, r := range img.refs {
			anns = append(anns, fmt.Sprintf(`{"id": %d, "image_id": %s, "caption": %q}`, n, id(i, img.id), r))
			n++
		}
		res = append(res, fmt.Sprintf(`{"image_id": %s, "caption": %q}`, id(i, img.id), img.candidate))
	}
	annotations = writeTemp(t, "captions_test.json", `{"images": [`+strings.Join(images, ",\n")+`], "annotations": [`+strings.Join(anns, ",\n")+`]}`)
	results = writeTemp(t, "results.json", "["+strings.Join(res, ",\n")+"]")
	return annotations, results
}

func TestCOCOStringAndIntegerIDsScoreTheSame(t *testing.T) {
	ints := func(i int, _ string) string { return fmt.Sprint(i + 1) }
	bigInts := func(i int, _ string) string { return fmt.Sprint(int64(1)<<62 + int64(i)) } // beyond float64's exact integers
	floats := func(i int, _ string) string { return fmt.Sprintf("%d.0", i+1) }             // as pandas writes ids
	strs := func(_ int, s string) string { return fmt.Sprintf("%q", s) }
	var first Scores
	for k, id := range []func(int, string) string{ints, bigInts, floats, strs} {
		a, r := threeImageFiles(t, id)
		s, n, err := EvaluateCOCOFiles(a, r)
		if err != nil {
			t.Fatalf("ids %d: %v", k, err)
		}
		if n != 3 {
			t.Fatalf("ids %d: scored %d images, want 3", k, n)
		}
		if k == 0 {
			first = s
		} else if s != first {
			t.Fatalf("ids %d: %+v, integer ids gave %+v", k, s, first)
		}
	}
	near(t, "Bleu_1", first.Bleu1, 0.7999999999466668, 1e-12)
	near(t, "Bleu_2", first.Bleu2, 0.6324555319862418, 1e-12)
	near(t, "Bleu_3", first.Bleu3, 3.5421952303004045e-06, 1e-15)
	near(t, "Bleu_4", first.Bleu4, 9.277192278053659e-09, 1e-18)
	near(t, "ROUGE_L", first.RougeL, 0.6093807282134841, 1e-12)
	near(t, "CIDEr", first.CIDEr, 1.462089167125673, 1e-12)
}

func TestCOCOIDTypesMustAgreeBetweenFiles(t *testing.T) {
	a, _ := threeImageFiles(t, func(i int, _ string) string { return fmt.Sprint(i + 1) })
	_, r := threeImageFiles(t, func(_ int, s string) string { return fmt.Sprintf("%q", s) })
	_, _, err := EvaluateCOCOFiles(a, r)
	want := r + " scored against " + a + `: the results' image ids are strings (first: "dog_01") but the annotations' are integers (first: 1); ` +
		"write every image id with one type (all integers or all strings) in both files"
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
}

// refusal is a file that must be refused, and the message after "PATH: ".
type refusal struct {
	name, content, want string
}

func checkRefusals(t *testing.T, parse func(name string, data []byte) error, cases []refusal) {
	t.Helper()
	for _, c := range cases {
		path := writeTemp(t, "f.json", c.content)
		data, _ := os.ReadFile(path)
		err := parse(path, data)
		if err == nil || err.Error() != path+": "+c.want {
			t.Errorf("%s:\n got %v\nwant %s: %s", c.name, err, path, c.want)
		}
		if err != nil && (strings.Contains(err.Error(), "Go ") || strings.Contains(err.Error(), "unmarshal")) {
			t.Errorf("%s: Go's words reach the user: %v", c.name, err)
		}
	}
}

const captionsWant = `a COCO captions annotation file (captions_*.json): {"images": [{"id": …, "file_name": …}, …], "annotations": [{"image_id": …, "caption": …}, …]}`

func TestLoadCOCOAnnotationsRefusesFilesWithoutCaptions(t *testing.T) {
	img := `"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2, "file_name": "b.jpg"}]`
	checkRefusals(t, func(name string, data []byte) error { _, err := ParseCOCOAnnotations(name, data); return err }, []refusal{
		{"instances file", `{"images": [{"id": 397133, "file_name": "a.jpg"}], "annotations": [{"id": 1, "image_id": 397133, "bbox": [1, 2, 3, 4], "category_id": 18, "area": 12.5, "iscrowd": 0, "segmentation": [[1, 2]]}]}`,
			`annotations[0] (image_id 397133) has no "caption" (it has "area", "bbox", "category_id", "id", "image_id", "iscrowd", "segmentation"); is this an instances (object detection) file? use a captions_*.json file`},
		{"no image_id", `{` + img + `, "annotations": [{"image_id": 1, "caption": "a"}, {"id": 5, "caption": "b"}]}`,
			`annotations[1] has no "image_id" (it has "caption", "id"); each annotation needs "image_id" and "caption"`},
		{"other key", `{` + img + `, "annotations": [{"image_id": 2, "text": "b"}]}`,
			`annotations[0] (image_id 2) has no "caption" (it has "image_id", "text"); each annotation needs "image_id" and "caption"`},
		{"caption a number", `{` + img + `, "annotations": [{"image_id": 1, "caption": 7}]}`,
			`annotations[0] (image_id 1) "caption" is a number, want a string`},
		{"caption null", `{` + img + `, "annotations": [{"image_id": 1, "caption": null}]}`,
			`annotations[0] (image_id 1) "caption" is null, want a string`},
		{"entry not an object", `{` + img + `, "annotations": ["a dog"]}`,
			`annotations[0] is a string, want a caption {"image_id", "caption"}`},
		{"empty annotations", `{` + img + `, "annotations": []}`,
			`"annotations" is empty; a captions file has one {"image_id", "caption"} entry per caption`},
		{"annotations an object", `{` + img + `, "annotations": {"image_id": 1}}`,
			`"annotations" is an object, want a list`},
		{"no images", `{"annotations": [{"image_id": 1, "caption": "a"}]}`,
			`no "images" list (it has "annotations"); want ` + captionsWant},
		{"image without id", `{"images": [{"file_name": "a.jpg"}], "annotations": [{"image_id": 1, "caption": "a"}]}`,
			`images[0] has no "id" (it has "file_name"); each image needs "id"`},
		{"caption of an unlisted image", `{` + img + `, "annotations": [{"image_id": 1, "caption": "a"}, {"image_id": 9, "caption": "b"}]}`,
			`annotations[1] (image_id 9) names an image that "images" does not list; list the image there or drop the caption`},
		{"results file", `[{"image_id": 1, "caption": "a dog"}]`,
			`a JSON list, as a results file is; want ` + captionsWant + ` (were the annotation and results files swapped?)`},
		{"karpathy file", `{"images": [{"filename": "a.jpg", "split": "test", "sentences": [{"raw": "A dog."}]}], "dataset": "flickr8k"}`,
			`no "annotations" list (it has "dataset", "images"); want ` + captionsWant + `; this looks like a Karpathy split file (its images have "sentences"), which -data reads, not a COCO captions file`},
		{"empty file", " \n", `the file is empty; want ` + captionsWant},
		{"not JSON", "image_id,caption\n1,a dog\n", `not valid JSON at byte offset 0 (line 1, column 1): invalid character 'i' looking for beginning of value`},
		{"syntax error on line 3", "{\n \"images\": [],\n \"annotations\": [,]\n}", `not valid JSON at byte offset 34 (line 3, column 18): invalid character ',' looking for beginning of value`},
		{"cut short", `{"images": [{"id": 1`, `not valid JSON: the file ends at byte offset 20 (line 1, column 21) in the middle of a value (cut short?)`},
		{"a number", `42`, `a number, want ` + captionsWant},
	})
}

func TestLoadCOCOAnnotationsRefusesBadIDs(t *testing.T) {
	file := func(id string) string {
		return `{"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": ` + id + `, "caption": "a"}]}`
	}
	checkRefusals(t, func(name string, data []byte) error { _, err := ParseCOCOAnnotations(name, data); return err }, []refusal{
		{"mixed kinds", file(`"1"`), `image ids mix integers and strings: images[0] "id" is the integer 1 but annotations[0] "image_id" is the string "1"; write every image id with one type (all integers or all strings)`},
		{"a list", file(`[1]`), `annotations[0] "image_id" is a list, want an integer or a string`},
		{"a fraction", file(`1.5`), `annotations[0] "image_id" is 1.5, not a whole number; ids are integers or strings`},
		{"an exponent", file(`1e3`), `annotations[0] "image_id" is 1e3, a number with an exponent; write ids as integers or strings`},
		{"beyond int64", file(`9223372036854775808`), `annotations[0] "image_id" is 9223372036854775808, beyond 64-bit integers; write such ids as strings`},
		{"empty string", file(`""`), `annotations[0] "image_id" is an empty string, want an integer or a non-empty string`},
		{"null", file(`null`), `annotations[0] "image_id" is null, want an integer or a string`},
	})
}

func TestLoadCOCOResultsRefusesEntriesWithoutCaptions(t *testing.T) {
	const want = `a COCO results file: a JSON list [{"image_id": …, "caption": …}, …]`
	checkRefusals(t, func(name string, data []byte) error { _, err := ParseCOCOResults(name, data); return err }, []refusal{
		{"sentence", `[{"image_id": 1, "sentence": "a dog"}]`,
			`entry 0 (image_id 1) has no "caption" (it has "image_id", "sentence"); each entry needs "image_id" and "caption"`},
		{"second entry", `[{"image_id": 1, "caption": "a"}, {"id": 2, "caption": "b"}]`,
			`entry 1 has no "image_id" (it has "caption", "id"); each entry needs "image_id" and "caption"`},
		{"detections", `[{"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.9}]`,
			`entry 0 (image_id 1) has no "caption" (it has "bbox", "category_id", "image_id", "score"); is this an object detection results file? caption results need "image_id" and "caption"`},
		{"caption a list", `[{"image_id": "x", "caption": ["a", "dog"]}]`,
			`entry 0 (image_id "x") "caption" is a list, want a string`},
		{"mixed kinds", `[{"image_id": "dog_01", "caption": "a"}, {"image_id": 2, "caption": "b"}]`,
			`image ids mix integers and strings: entry 0 "image_id" is the string "dog_01" but entry 1 "image_id" is the integer 2; write every image id with one type (all integers or all strings)`},
		{"annotation file", `{"images": [], "annotations": [{"image_id": 1, "caption": "a"}]}`,
			`a JSON object with "annotations", as an annotation file is; want ` + want + ` (were the annotation and results files swapped?)`},
		{"an object", `{"image_id": 1, "caption": "a"}`, `an object, want ` + want},
		{"empty list", `[]`, `the list is empty; want one {"image_id", "caption"} entry per image`},
		{"entry a number", `[1, 2]`, `entry 0 is a number, want {"image_id", "caption"}`},
		{"empty file", ``, `the file is empty; want ` + want},
		{"not JSON", `image_id,caption`, `not valid JSON at byte offset 0 (line 1, column 1): invalid character 'i' looking for beginning of value`},
	})
}

func TestCOCOResultsKeepEmptyCaptions(t *testing.T) {
	// A model may output nothing; pycocoevalcap scores the empty caption (as one empty token
	// for ROUGE-L), and so does attncap: 0 for image 2, 1 for image 1's exact match.
	a := writeTemp(t, "captions_test.json", `{"images": [{"id": 1}, {"id": 2}], "annotations": [
		{"image_id": 1, "caption": "a dog runs"}, {"image_id": 2, "caption": "a cat sits"}]}`)
	r := writeTemp(t, "results.json", `[{"image_id": 1, "caption": "a dog runs"}, {"image_id": 2, "caption": ""}]`)
	s, n, err := EvaluateCOCOFiles(a, r)
	if err != nil {
		t.Fatal(err)
	}
	if n != 2 {
		t.Fatalf("scored %d images", n)
	}
	near(t, "ROUGE_L", s.RougeL, 0.5, 1e-12)
}

func TestCOCOResultsRoundTrip(t *testing.T) {
	// What WriteCOCOResults writes (EvaluateSplit's integer ids, or string ids) reads back.
	for _, res := range [][]COCOResult{
		{{ImageID: datasets.IntID(0), Caption: "a dog"}, {ImageID: datasets.IntID(1), Caption: ""}},
		{{ImageID: datasets.StringID("dog_01"), Caption: "a \"quoted\" dog"}},
	} {
		path := filepath.Join(t.TempDir(), "r.json")
		if err := WriteCOCOResults(path, res); err != nil {
			t.Fatal(err)
		}
		got, err := LoadCOCOResults(path)
		if err != nil {
			t.Fatal(err)
		}
		if fmt.Sprint(got) != fmt.Sprint(res) {
			t.Fatalf("read back %v, wrote %v", got, res)
		}
	}
}

func TestCIDErWarning(t *testing.T) {
	for _, c := range []struct {
		n    int
		want string
	}{
		{0, ""},
		{1, "CIDEr-D of a single image is 0 by construction: its n-gram weights ln(N/df) are ln(1/1) = 0; score at least 50 images"},
		{3, "CIDEr-D over 3 images is unstable: its n-gram weights come from the evaluated images' references, and below 50 images they swing with the choice of images (by 20% or more); compare CIDEr only over the same, larger set of images, such as a whole test split"},
		{49, "CIDEr-D over 49 images is unstable"},
		{50, ""},
		{5000, ""},
	} {
		if got := CIDErWarning(c.n); !strings.HasPrefix(got, c.want) || (c.want == "") != (got == "") {
			t.Errorf("CIDErWarning(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
