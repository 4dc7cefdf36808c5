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

func TestBuildVocabNamesAMinCountThatKeepsNoWord(t *testing.T) {
	dir := flickr8kFixture(t, "Flicker8k_Dataset", ".")
	d, err := Load(dir, LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Train words: a ×4, dog ×2, the others once.
	if _, err := d.BuildVocab(4); err != nil {
		t.Fatalf("-min-count 4 keeps \"a\": %v", err)
	}
	_, err = d.BuildVocab(5)
	want := d.Name + `: -min-count 5 keeps no word in the vocabulary: the most frequent train word, "a", occurs 4 times; use -min-count 4 or lower`
	if err == nil || err.Error() != want {
		t.Fatalf("err = %v\nwant %s", err, want)
	}
	// Prepare refuses it too, before saving anything.
	vocabPath := filepath.Join(t.TempDir(), "v.json")
	if _, _, err := Prepare(dir, PrepareOptions{MinCount: 5, VocabPath: vocabPath}); err == nil || err.Error() != want {
		t.Fatalf("Prepare: %v", err)
	}
	if fileExists(vocabPath) {
		t.Fatal("a vocabulary was saved")
	}
	// Captions with no word at all.
	d.Examples = []Example{{Image: "x.jpg", Captions: []string{". , !"}, Split: Train}}
	if _, err := d.BuildVocab(1); err == nil || err.Error() != d.Name+": the train captions hold no word once tokenized (only punctuation?); a vocabulary needs words" {
		t.Fatalf("err = %v", err)
	}
}

func TestPrepareWarnsWhenMinCountMakesManyWordsUnknown(t *testing.T) {
	dir := flickr8kFixture(t, "Flicker8k_Dataset", ".")
	for _, c := range []struct {
		minCount int
		want     string
	}{
		// 13 train tokens; -min-count 2 keeps a (4) and dog (2): 7 of 13 map to <unk>.
		{2, "flickr8k " + dir + ": -min-count 2 maps 53.8% of the train split's word tokens (7 of 13) to <unk>, over 5%; a lower -min-count keeps more words"},
		{1, ""},
	} {
		var warnings []string
		_, _, err := Prepare(dir, PrepareOptions{MinCount: c.minCount, VocabPath: filepath.Join(t.TempDir(), "v.json"),
			Warn: func(m string) { warnings = append(warnings, m) }})
		if err != nil {
			t.Fatal(err)
		}
		var got string
		for _, w := range warnings {
			if strings.Contains(w, "<unk>") {
				got = w
			}
		}
		if got != c.want {
			t.Errorf("-min-count %d: warning %q, want %q", c.minCount, got, c.want)
		}
	}
}
