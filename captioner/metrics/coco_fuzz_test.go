package metrics

import (
	"encoding/json"
	"math"
	"reflect"
	"testing"
)

// checkIDs holds for any accepted file: every image id is set and all are of one kind.
func checkIDs(t *testing.T, ids []COCOID) {
	for _, id := range ids {
		if id.IsZero() {
			t.Fatal("accepted an entry without an image id")
		}
		if id.IsString() != ids[0].IsString() {
			t.Fatalf("accepted mixed id kinds %s and %s", ids[0], id)
		}
	}
}

func FuzzParseCOCOAnnotations(f *testing.F) {
	f.Add(`{"images": [{"id": 1, "file_name": "a.jpg"}, {"id": 2}], "annotations": [{"id": 5, "image_id": 1, "caption": "A dog."}, {"image_id": 2, "caption": ""}]}`)
	f.Add(`{"images": [{"id": "dog_01"}], "annotations": [{"id": "x", "image_id": "dog_01", "caption": "a dog"}]}`)
	f.Add(`{"images": [{"id": 1.0}], "annotations": [{"image_id": 1, "caption": "a"}]}`)
	f.Add(`{"images": [{"id": 397133, "file_name": "a.jpg"}], "annotations": [{"id": 1, "image_id": 397133, "bbox": [1, 2, 3, 4], "category_id": 18}]}`)
	f.Add(`{"images": [{"filename": "a.jpg", "split": "test", "sentences": [{"raw": "A dog."}]}]}`)
	f.Add(`{"images": [{"id": 1}], "annotations": [{"image_id": "1", "caption": "a"}]}`)
	f.Add(`{"images": [{"id": 1}], "annotations": [{"image_id": 1e300, "caption": null}]}`)
	f.Add(`[{"image_id": 1, "caption": "a"}]`)
	f.Add(`{"images": [{"id": 1`)
	f.Add(``)
	f.Fuzz(func(t *testing.T, input string) {
		ann, err := ParseCOCOAnnotations("fuzz.json", []byte(input))
		if err != nil {
			return
		}
		if len(ann.Annotations) == 0 {
			t.Fatal("accepted a file without captions")
		}
		var ids []COCOID
		listed := map[COCOID]bool{}
		for _, img := range ann.Images {
			ids = append(ids, img.ID)
			listed[img.ID] = true
		}
		for _, a := range ann.Annotations {
			ids = append(ids, a.ImageID)
			if !listed[a.ImageID] {
				t.Fatalf("accepted a caption of unlisted image %s", a.ImageID)
			}
		}
		checkIDs(t, ids)
		// What was read writes back to the same value, as EvaluateSplit's -annotations-out does.
		data, err := json.Marshal(ann)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseCOCOAnnotations("again.json", data)
		if err != nil || !reflect.DeepEqual(again, ann) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, again, ann)
		}
		// Scoring each captioned image's first reference as its result works and is finite.
		var results []COCOResult
		seen := map[COCOID]bool{}
		for _, a := range ann.Annotations {
			if !seen[a.ImageID] {
				seen[a.ImageID] = true
				results = append(results, COCOResult{ImageID: a.ImageID, Caption: a.Caption})
			}
		}
		s, err := EvaluateCOCO(ann, results)
		if err != nil {
			t.Fatalf("scoring the references themselves: %v", err)
		}
		for _, v := range []float64{s.Bleu1, s.Bleu4, s.RougeL, s.CIDEr} {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				t.Fatalf("scores %+v", s)
			}
		}
	})
}

func FuzzParseCOCOResults(f *testing.F) {
	f.Add(`[{"image_id": 1, "caption": "a dog"}, {"image_id": 2, "caption": ""}]`)
	f.Add(`[{"image_id": "dog_01", "caption": "a dog"}]`)
	f.Add(`[{"image_id": 1, "sentence": "a dog"}]`)
	f.Add(`[{"image_id": 1, "category_id": 3, "bbox": [1, 2, 3, 4], "score": 0.9}]`)
	f.Add(`[{"image_id": "a", "caption": "x"}, {"image_id": 2, "caption": "y"}]`)
	f.Add(`[{"image_id": 9223372036854775808, "caption": "x"}, {"image_id": -0.000, "caption": "\ud800"}]`)
	f.Add(`{"images": [], "annotations": []}`)
	f.Add(`[]`)
	f.Add(`[1, "a", null, true]`)
	f.Add(`[{"image_id": 1, "caption": "a"`)
	f.Fuzz(func(t *testing.T, input string) {
		res, err := ParseCOCOResults("fuzz.json", []byte(input))
		if err != nil {
			return
		}
		if len(res) == 0 {
			t.Fatal("accepted an empty results file")
		}
		var ids []COCOID
		for _, r := range res {
			ids = append(ids, r.ImageID)
		}
		checkIDs(t, ids)
		data, err := json.Marshal(res)
		if err != nil {
			t.Fatal(err)
		}
		again, err := ParseCOCOResults("again.json", data)
		if err != nil || !reflect.DeepEqual(again, res) {
			t.Fatalf("round trip: %v\n%+v\n%+v", err, again, res)
		}
	})
}
