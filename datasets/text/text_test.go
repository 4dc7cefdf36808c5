package text

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

func TestTokenizeFollowsPTBRules(t *testing.T) {
	// Expected outputs worked out by hand from the Penn Treebank conventions that
	// coco-caption's PTBTokenizer applies, minus its dropped punctuation tokens.
	cases := []struct{ in, want string }{
		{"A black dog is running after a white dog in the snow .", "a black dog is running after a white dog in the snow"},
		{"Two dogs, one brown and one white.", "two dogs one brown and one white"},
		{"The dog's ball", "the dog 's ball"},
		{"The boys' toys", "the boys toys"},
		{"Children don't play; they're watching!", "children do n't play they 're watching"},
		{"A man (in red) jumps?", "a man in red jumps"},
		{"\"Surf's up\" says the man", "surf 's up says the man"},
		{"A girl in a t-shirt -- smiling ...", "a girl in a t-shirt smiling"},
		{"She cannot swim", "she can not swim"},
		{"1,000 people at 3:30 in the U.S.", "1,000 people at 3:30 in the u.s."},
		{"rock & roll", "rock & roll"},
		{"Dogs: two,three", "dogs two three"},
		{"  MiXeD   case\twords\n", "mixed case words"},
		{"It\u2019s a \u201cbig\u201d dog", "it 's a big dog"},
		{"", ""},
	}
	for _, c := range cases {
		got := strings.Join(Tokenize(c.in), " ")
		if got != c.want {
			t.Errorf("Tokenize(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestTokenizeNeverKeepsDroppedTokens(t *testing.T) {
	in := "'' ' `` ` ( ) { } [ ] . ? ! , : - -- ... ; \" word"
	if got := Tokenize(in); !reflect.DeepEqual(got, []string{"word"}) {
		t.Fatalf("Tokenize(%q) = %q, want [word]", in, got)
	}
}

func TestBuildVocabCountsTrainOnlyWithMinCount(t *testing.T) {
	train := [][]string{
		{"a", "dog", "runs"}, {"a", "dog", "sits"}, {"a", "cat", "runs"}, {"b"},
	}
	v := BuildVocab(train, 2)
	// a:3, dog:2, runs:2 kept; cat, sits, b (1 each) dropped. Ties alphabetical.
	want := []string{PadToken, StartToken, EndToken, UnkToken, "a", "dog", "runs"}
	if !reflect.DeepEqual(v.Words, want) {
		t.Fatalf("words = %q, want %q", v.Words, want)
	}
	if v.ID("cat") != UnkID || v.ID("dog") != 5 || v.Word(4) != "a" || v.Word(99) != UnkToken {
		t.Fatalf("ID/Word mapping wrong: cat→%d dog→%d 4→%q", v.ID("cat"), v.ID("dog"), v.Word(4))
	}
	if v.Size() != 7 {
		t.Fatalf("Size = %d, want 7", v.Size())
	}
}

func TestEncodePadsTruncatesAndDecodes(t *testing.T) {
	v := BuildVocab([][]string{{"a", "dog", "runs"}}, 1)
	ids, truncated := v.Encode([]string{"a", "dog", "flies"}, 8)
	want := []int32{StartID, int32(v.ID("a")), int32(v.ID("dog")), UnkID, EndID, PadID, PadID, PadID}
	if truncated || !reflect.DeepEqual(ids, want) {
		t.Fatalf("Encode = %v (truncated %v), want %v", ids, truncated, want)
	}
	if got := v.Decode(ids); !reflect.DeepEqual(got, []string{"a", "dog", UnkToken}) {
		t.Fatalf("Decode = %q", got)
	}
	ids, truncated = v.Encode([]string{"a", "dog", "runs", "a", "dog"}, 5)
	if !truncated || len(ids) != 5 || ids[4] != EndID || ids[3] != int32(v.ID("runs")) {
		t.Fatalf("truncated Encode = %v (truncated %v); want 3 words then <end>", ids, truncated)
	}
	ids, truncated = v.Encode([]string{"a", "dog", "runs"}, 5)
	if truncated || ids[4] != EndID {
		t.Fatalf("a caption of exactly maxLen-2 words is not truncated: %v %v", ids, truncated)
	}
	if ids, _ := v.Encode(nil, 0); !reflect.DeepEqual(ids, []int32{StartID, EndID}) {
		t.Fatalf("Encode(nil, 0) = %v", ids)
	}
}

func TestVocabSaveLoadRoundTripAndErrors(t *testing.T) {
	dir := t.TempDir()
	v := BuildVocab([][]string{{"x", "y", "y"}}, 1)
	path := filepath.Join(dir, "sub", "vocab.json")
	if err := v.Save(path); err != nil {
		t.Fatal(err)
	}
	got, err := LoadVocab(path)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Words, v.Words) || got.ID("y") != v.ID("y") {
		t.Fatalf("round trip: %q vs %q", got.Words, v.Words)
	}
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"words":["<start>","<pad>","<end>","<unk>"]}`), 0o644)
	if _, err := LoadVocab(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "<pad>") {
		t.Fatalf("swapped specials: err = %v", err)
	}
	os.WriteFile(bad, []byte(`not json`), 0o644)
	if _, err := LoadVocab(bad); err == nil || !strings.Contains(err.Error(), bad) {
		t.Fatalf("non-JSON: err = %v", err)
	}
	os.WriteFile(bad, []byte(`{"words": "a b c"}`), 0o644)
	if _, err := LoadVocab(bad); err == nil || err.Error() != "vocabulary "+bad+`: near byte offset 17 (line 1, column 18): "words" is a string, want a list` {
		t.Fatalf("words a string: err = %v", err)
	}
	if _, err := LoadVocab(filepath.Join(dir, "absent.json")); err == nil {
		t.Fatal("missing file gave no error")
	}
}

func TestMostFrequentAndCountUnknown(t *testing.T) {
	caps := [][]string{{"a", "dog", "<unk>"}, {"a", "cat"}, {"b", "b", "<unk>", "<unk>"}}
	// "<unk>" written in a caption is no word; a and b tie at 2, a first.
	if w, c := MostFrequent(caps); w != "a" || c != 2 {
		t.Fatalf("MostFrequent = %q, %d; want \"a\", 2", w, c)
	}
	if w, c := MostFrequent([][]string{{}}); w != "" || c != 0 {
		t.Fatalf("MostFrequent of nothing = %q, %d", w, c)
	}
	v := BuildVocab(caps, 2)
	if u, n := v.CountUnknown(caps); u != 5 || n != 9 {
		t.Fatalf("CountUnknown = %d of %d; want 5 of 9 (dog, cat and the three <unk>)", u, n)
	}
}
