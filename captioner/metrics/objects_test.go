package metrics

import (
	"bytes"
	"encoding/json"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/attncap/attncap/datasets"
)

// objectsTruth: one.jpg (90×90) a small red circle at the top left; two.jpg (100×100) a large
// blue square left of a small green triangle (dx 60, dy 5); three.jpg (120×90) a small red
// circle, a large blue square and a small purple circle, left to right (x 20, 60, 100), at
// heights 20, 70, 30.
const objectsTruth = `{"generator": "test", "colors": ["red", "green", "blue", "yellow", "purple"],
"shapes": ["circle", "square", "triangle"], "sizes": ["small", "large"], "images": [
{"file_name": "one.jpg", "width": 90, "height": 90, "objects": [{"shape": "circle", "color": "red", "size": "small", "x": 10, "y": 10, "radius": 9}]},
{"file_name": "two.jpg", "width": 100, "height": 100, "objects": [
	{"shape": "square", "color": "blue", "size": "large", "x": 20, "y": 50, "radius": 19},
	{"shape": "triangle", "color": "green", "size": "small", "x": 80, "y": 55, "radius": 10}]},
{"file_name": "three.jpg", "width": 120, "height": 90, "objects": [
	{"shape": "circle", "color": "red", "size": "small", "x": 20, "y": 20, "radius": 9},
	{"shape": "square", "color": "blue", "size": "large", "x": 60, "y": 70, "radius": 17},
	{"shape": "circle", "color": "purple", "size": "small", "x": 100, "y": 30, "radius": 9}]}]}`

func mustTruth(t *testing.T) *datasets.ShapesObjects {
	t.Helper()
	truth, err := datasets.ParseShapesObjects([]byte(objectsTruth))
	if err != nil {
		t.Fatal(err)
	}
	return truth
}

func TestJudgeObjects(t *testing.T) {
	truth := mustTruth(t)
	words := NewObjectWords(truth)
	cases := []struct {
		image, caption string
		want           ObjectJudgement // Image, Caption and Objects are filled in below
	}{
		{"one.jpg", "a small red circle", ObjectJudgement{Correct: true}},
		{"one.jpg", "A red circle at the top left.", ObjectJudgement{Correct: true, Claims: []SpatialClaim{
			{"position", "red circle at the top left", true, "red circle at the top left"}}}},
		{"one.jpg", "a red circle in the center", ObjectJudgement{Correct: true, Claims: []SpatialClaim{
			{"position", "red circle in the center", false, "red circle at the top left"}}}},
		{"one.jpg", "a large red circle", ObjectJudgement{WrongSize: []string{"large red circle (it is small)"}}},
		{"one.jpg", "one small circle that is red", ObjectJudgement{Correct: true}},
		{"one.jpg", "a circle", ObjectJudgement{Missing: []string{"small red circle"}, Extra: []string{"circle"}}},
		{"one.jpg", "a red circle and a red circle", ObjectJudgement{Extra: []string{"red circle"}}},
		{"two.jpg", "a blue square to the left of a green triangle", ObjectJudgement{Correct: true, Claims: []SpatialClaim{
			{"relation", "blue square to the left of green triangle", true, "blue square to the left of green triangle"}}}},
		{"two.jpg", "a small green triangle to the left of a large blue square", ObjectJudgement{Correct: true, Claims: []SpatialClaim{
			{"relation", "small green triangle to the left of large blue square", false, "small green triangle to the right of large blue square"}}}},
		{"two.jpg", "the green triangle is below the blue square", ObjectJudgement{Correct: true, Claims: []SpatialClaim{
			{"relation", "green triangle below blue square", false, "green triangle to the right of blue square"}}}},
		{"two.jpg", "a blue square", ObjectJudgement{Missing: []string{"small green triangle"}}},
		{"two.jpg", "two red circles", ObjectJudgement{Missing: []string{"large blue square", "small green triangle"}, Extra: []string{"red circle", "red circle"}}},
		{"two.jpg", "a red circle above a blue square", ObjectJudgement{Missing: []string{"small green triangle"}, Extra: []string{"red circle"},
			Claims: []SpatialClaim{{"relation", "red circle above blue square", false, "the image has no such pair of objects"}}}},
		// The generic reference names one object of three: wrong.
		{"three.jpg", "there are three shapes on a noisy background including a small purple circle", ObjectJudgement{
			Missing: []string{"small red circle", "large blue square"}, StatedCount: 3}},
		{"three.jpg", "a small red circle , a large blue square and a small purple circle", ObjectJudgement{Correct: true}},
		{"three.jpg", "three shapes : a purple circle , a red circle and a blue square", ObjectJudgement{Correct: true, StatedCount: 3}},
		{"three.jpg", "two shapes : a red circle , a blue square and a purple circle", ObjectJudgement{StatedCount: 2}},
		{"three.jpg", "a red circle , a blue square , a purple circle and a green triangle", ObjectJudgement{Extra: []string{"green triangle"}}},
		{"three.jpg", "from left to right : a red circle , a blue square and a purple circle", ObjectJudgement{Correct: true, Claims: []SpatialClaim{
			{"order", "from left to right: red circle, blue square, purple circle", true, "from left to right: red circle, blue square, purple circle"}}}},
		{"three.jpg", "a red circle , a blue square and a purple circle from top to bottom", ObjectJudgement{Correct: true, Claims: []SpatialClaim{
			{"order", "from top to bottom: red circle, blue square, purple circle", false, "from top to bottom: red circle, purple circle, blue square"}}}},
	}
	for _, c := range cases {
		img, _ := truth.Image(c.image)
		want := c.want
		want.Image, want.Caption, want.Objects = c.image, c.caption, len(img.Objects)
		if got := JudgeObjects(words, c.caption, img); !reflect.DeepEqual(got, want) {
			t.Errorf("%s %q:\n got %+v\nwant %+v", c.image, c.caption, got, want)
		}
	}
}

func TestObjectAccuracyCounts(t *testing.T) {
	truth := mustTruth(t)
	captions := []ObjectCaption{
		{"one.jpg", "a small red circle"},                                                             // right
		{"data/one.jpg", "a red circle at the top left"},                                              // right; position right
		{"one.jpg", "a large red circle"},                                                             // wrong size
		{"one.jpg", "one small circle that is red"},                                                   // right
		{"two.jpg", "a blue square to the left of a green triangle"},                                  // right; relation right
		{"two.jpg", "a green triangle to the left of a blue square"},                                  // right; relation wrong
		{"two.jpg", "a blue square"},                                                                  // missing
		{"two.jpg", "two red circles"},                                                                // wrong
		{"two.jpg", "a red circle above a yellow square"},                                             // wrong; relation wrong
		{"three.jpg", "there are three shapes on a noisy background including a small purple circle"}, // generic: wrong
		{"three.jpg", "a small red circle , a large blue square and a small purple circle"},           // right
		{"three.jpg", "a red circle , a blue square , a purple circle and a green triangle"},          // extra
		{"three.jpg", "two shapes : a red circle , a blue square and a purple circle"},                // wrong count
		{"three.jpg", "from left to right : a red circle , a blue square and a purple circle"},        // right; order right
		{"three.jpg", "from top to bottom : a red circle , a blue square and a purple circle"},        // right; order wrong
	}
	got, judged, err := ObjectAccuracy(truth, captions)
	if err != nil {
		t.Fatal(err)
	}
	if len(judged) != len(captions) || judged[1].Image != "one.jpg" {
		t.Fatalf("%d judgements, second for %q", len(judged), judged[1].Image)
	}
	want := ObjectScores{Images: 15, Correct: 8, Accuracy: 8.0 / 15,
		ByCount:       []ObjectCount{{1, 4, 3, 0.75}, {2, 5, 2, 0.4}, {3, 6, 3, 0.5}},
		Spatial:       SpatialCount{Captions: 6, Correct: 3, Accuracy: 0.5},
		SpatialByKind: []SpatialCount{{"relation", 3, 1, 1.0 / 3}, {"order", 2, 1, 0.5}, {"position", 1, 1, 1}}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("got  %+v\nwant %+v", got, want)
	}
	var b bytes.Buffer
	got.WriteTable(&b)
	wantTable := `object accuracy            images  correct  accuracy
all images                 15      8        0.5333
1 object                   4       3        0.7500
2 objects                  5       2        0.4000
3 objects                  6       3        0.5000
spatial claims (captions)  6       3        0.5000
  relation                 3       1        0.3333
  order                    2       1        0.5000
  position                 1       1        1.0000
`
	if b.String() != wantTable {
		t.Errorf("table:\n%s\nwant:\n%s", b.String(), wantTable)
	}
	data, _ := json.Marshal(ScoreReport{Scores: Scores{Bleu4: 0.5}, Objects: &got})
	if !strings.Contains(string(data), `"Bleu_4":0.5,`) || !strings.Contains(string(data), `"objects":{"images":15,"correct":8,`) {
		t.Errorf("report JSON: %s", data)
	}
	if data, _ := json.Marshal(ScoreReport{Scores: Scores{Bleu4: 0.5}}); strings.Contains(string(data), "objects") {
		t.Errorf("report without objects: %s", data)
	}

	if _, _, err := ObjectAccuracy(truth, []ObjectCaption{{"four.jpg", "a red circle"}}); err == nil || !strings.Contains(err.Error(), "lists no image four.jpg") {
		t.Errorf("unknown image: %v", err)
	}
	if _, _, err := ObjectAccuracy(truth, nil); err == nil {
		t.Error("no captions: no error")
	}
}

func TestObjectAccuracyCOCO(t *testing.T) {
	truth := mustTruth(t)
	ann := &COCOAnnotations{Images: []datasets.COCOImage{{ID: datasets.IntID(1), FileName: "one.jpg"}, {ID: datasets.IntID(2), FileName: "images/three.jpg"}}}
	results := []COCOResult{{ImageID: datasets.IntID(2), Caption: "a red circle"}, {ImageID: datasets.IntID(1), Caption: "a red circle"}}
	s, judged, err := ObjectAccuracyCOCO(truth, ann, results)
	if err != nil || s.Images != 2 || s.Correct != 1 || judged[0].Image != "three.jpg" || judged[0].Correct || !judged[1].Correct {
		t.Fatalf("%+v %+v %v", s, judged, err)
	}
	ann.Images[0].FileName = ""
	if _, _, err := ObjectAccuracyCOCO(truth, ann, results); err == nil || !strings.Contains(err.Error(), "image 1 has no file_name") {
		t.Errorf("no file name: %v", err)
	}
	if _, _, err := ObjectAccuracyCOCO(truth, ann, []COCOResult{{ImageID: datasets.IntID(7)}}); err == nil || !strings.Contains(err.Error(), "do not list") {
		t.Errorf("unknown id: %v", err)
	}
}

// On a generated set, the references judge as their templates say: every one right except, on
// three-object images, the relation template that names two of the three ("a C left of a B")
// and the generic one; every spatial claim a reference makes is right.
func TestObjectAccuracyOfGeneratedReferences(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	if err := datasets.GenerateShapes(dir, datasets.ShapesOptions{N: 150, Seed: 2}); err != nil {
		t.Fatal(err)
	}
	truth, err := datasets.LoadShapesObjects(datasets.FindShapesObjects(dir))
	if err != nil {
		t.Fatal(err)
	}
	ds, err := datasets.Load(dir, datasets.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	counts := map[int]int{}
	for ref := 0; ref < 5; ref++ {
		var caps []ObjectCaption
		for _, e := range ds.Examples {
			caps = append(caps, ObjectCaption{e.Image, e.Captions[ref]})
		}
		s, judged, err := ObjectAccuracy(truth, caps)
		if err != nil {
			t.Fatal(err)
		}
		for _, j := range judged {
			want := !(j.Objects == 3 && ref >= 3)
			if j.Correct != want {
				t.Errorf("reference %d of %s (%d objects) %q: correct %v, want %v (%+v)", ref, j.Image, j.Objects, j.Caption, j.Correct, want, j)
			}
			for _, c := range j.Claims {
				if !c.Correct {
					t.Errorf("%s: %q: wrong claim %+v", j.Image, j.Caption, c)
				}
				counts[ref]++
			}
		}
		if s.Spatial.Correct != s.Spatial.Captions || math.IsNaN(s.Accuracy) {
			t.Errorf("reference %d: %+v", ref, s.Spatial)
		}
	}
	// Relations in references 1, 2 (two objects) and 2, 3 (three), positions in 4 (one object).
	for _, ref := range []int{1, 2, 3, 4} {
		if counts[ref] == 0 {
			t.Errorf("no spatial claim found in reference %d", ref)
		}
	}
}
