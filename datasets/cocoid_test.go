package datasets

import (
	"encoding/json"
	"slices"
	"testing"
)

func TestCOCOIDReadsAndWritesBothKinds(t *testing.T) {
	// Decoding the types directly (not through ParseCOCOCaptions) reads ids the same way.
	var cf COCOCaptions
	in := `{"images": [{"id": 9007199254740993, "file_name": "a.jpg"}, {"id": 2.00}, {"id": "dog_01"}],
		"annotations": [{"image_id": -3, "caption": "x"}, {"id": null, "image_id": 1, "caption": "y"}]}`
	if err := json.Unmarshal([]byte(in), &cf); err != nil {
		t.Fatal(err)
	}
	got := []COCOID{cf.Images[0].ID, cf.Images[1].ID, cf.Images[2].ID, cf.Annotations[0].ImageID, cf.Annotations[1].ID}
	want := []COCOID{IntID(9007199254740993), IntID(2), StringID("dog_01"), IntID(-3), {}} // 2^53+1: no float rounding
	if !slices.Equal(got, want) {
		t.Fatalf("ids %v, want %v", got, want)
	}
	out, err := json.Marshal(cf.Annotations)
	if err != nil {
		t.Fatal(err)
	}
	if s := string(out); s != `[{"image_id":-3,"caption":"x"},{"image_id":1,"caption":"y"}]` { // no id: left out
		t.Fatalf("marshalled %s", s)
	}
	if b, _ := json.Marshal(COCOResult{ImageID: StringID(`a"b`), Caption: ""}); string(b) != `{"image_id":"a\"b","caption":""}` {
		t.Fatalf("marshalled %s", b)
	}
	var id COCOID
	if err := json.Unmarshal([]byte(`{"a": 1}`), &id); err == nil || err.Error() != "COCO id is an object, want an integer or a string" {
		t.Fatalf("err = %v", err)
	}
}

func TestCOCOIDOrderAndText(t *testing.T) {
	ids := []COCOID{StringID("b"), IntID(10), StringID("a"), IntID(-2), {}, IntID(3)}
	slices.SortFunc(ids, func(a, b COCOID) int {
		if a.Less(b) {
			return -1
		}
		if b.Less(a) {
			return 1
		}
		return 0
	})
	var s []string
	for _, id := range ids {
		s = append(s, id.String())
	}
	if want := []string{"(no id)", "-2", "3", "10", `"a"`, `"b"`}; !slices.Equal(s, want) {
		t.Fatalf("sorted %q, want %q", s, want)
	}
	if n, ok := IntID(7).Int(); !ok || n != 7 {
		t.Fatal("Int of an integer id")
	}
	if _, ok := StringID("7").Int(); ok || IntID(7) == StringID("7") {
		t.Fatal("a string id is no integer")
	}
}
