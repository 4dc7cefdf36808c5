package datasets

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/attncap/attncap/datasets/text"
)

func TestPrepareSummarisesAndSavesTrainOnlyVocab(t *testing.T) {
	dir := flickr8kFixture(t, "Flicker8k_Dataset", ".")
	vocabPath := filepath.Join(t.TempDir(), "vocab.json")
	var warnings []string
	sum, saved, err := Prepare(dir, PrepareOptions{MinCount: 1, MaxLen: 5, VocabPath: vocabPath,
		Warn: func(m string) { warnings = append(warnings, m) }})
	if err != nil {
		t.Fatal(err)
	}
	if saved != vocabPath {
		t.Fatalf("saved to %s", saved)
	}
	js, _ := json.Marshal(sum)
	// Train: a (2 captions), b (2); val: c (2); test: d (2). Train words: a dog runs second
	// caption for sits two dogs → 9 words + 4 specials. MaxLen 5 keeps 3 words: only
	// "A second caption for a ." (5 words) is longer → 1 truncated.
	want := `{"splits":{"test":{"images":1,"captions":2},"train":{"images":2,"captions":4},"val":{"images":1,"captions":2}},"vocab_size":13,"missing_images":0,"truncated_captions":1}`
	if string(js) != want {
		t.Fatalf("summary\n got %s\nwant %s", js, want)
	}
	v, err := text.LoadVocab(vocabPath)
	if err != nil {
		t.Fatal(err)
	}
	if v.ID("cat") != text.UnkID || v.ID("bird") != text.UnkID || v.ID("dogs") == text.UnkID {
		t.Fatal("vocabulary must come from the train split only")
	}
	if len(warnings) == 0 || !strings.Contains(strings.Join(warnings, " "), "malformed") {
		t.Fatalf("warnings not passed on: %q", warnings)
	}
}

func TestPrepareNamesUnreadableImages(t *testing.T) {
	dir := flickr8kFixture(t, "Flicker8k_Dataset", ".")
	bad := filepath.Join(dir, "Flicker8k_Dataset", "c.jpg")
	writeFile(t, bad, "not a jpeg")
	_, _, err := Prepare(dir, PrepareOptions{VocabPath: filepath.Join(t.TempDir(), "v.json")})
	if err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "1 unreadable") {
		t.Fatalf("err = %v", err)
	}
}
