package metrics

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"testing/iotest"
)

// tinyMeteorData is a small stand-in for METEOR's data files: function words "a" and "the",
// "dog" and "puppy" in one synset, "mouse" with the irregular plural "mice", and the
// nonbreaking prefix "Mr".
var tinyMeteorData = meteorData{
	synsets:       "dog\n100 200\npuppy\n200\nmouse\n300\nrodent\n300\ncat\n400\n",
	exceptions:    "mouse\nmice\n",
	functionWords: "a\nthe\n",
	prefixes:      "# titles\nMr\nNo #NUMERIC_ONLY#\n",
}

// tinyMeteor makes a Meteor with the given modules from tinyMeteorData; with the paraphrase
// module, triples (phrase, paraphrase) are written as a gzipped table.
func tinyMeteor(t *testing.T, modules []meteorModule, paraphrases ...string) *Meteor {
	t.Helper()
	path := ""
	if len(paraphrases) > 0 {
		path = writeParaphrases(t, paraphrases...)
	}
	m, err := newMeteor(tinyMeteorData, modules, path)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// writeParaphrases writes pairs (phrase, paraphrase, phrase, paraphrase, …) as a gzipped
// METEOR paraphrase table and returns its path.
func writeParaphrases(t *testing.T, pairs ...string) string {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	for i := 0; i+1 < len(pairs); i += 2 {
		fmt.Fprintf(zw, "0.5\n%s\n%s\n", pairs[i], pairs[i+1])
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "paraphrase-test.gz")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

var (
	exactStemSynonym = []meteorModule{moduleExact, moduleStem, moduleSynonym}
	allModules       = []meteorModule{moduleExact, moduleStem, moduleSynonym, moduleParaphrase}
)

// meteorOf scores one hypothesis against references.
func meteorOf(t *testing.T, m *Meteor, hyp string, refs ...string) float64 {
	t.Helper()
	r, err := m.Score([]Example{ex(hyp, refs...)})
	if err != nil {
		t.Fatal(err)
	}
	return r.Score
}

// rankScore is the METEOR formula with English rank parameters, for hand computations:
// weighted precision and recall from the weighted matches and lengths, the fragmentation from
// chunks and matched words.
func rankScore(precision, recall float64, chunks, matchedWords int) float64 {
	fMean := 1 / (0.15/precision + 0.85/recall)
	frag := float64(chunks) / (float64(matchedWords) / 2)
	return fMean * (1 - 0.6*math.Pow(frag, 0.2))
}

func TestMeteorHandComputed(t *testing.T) {
	m := tinyMeteor(t, exactStemSynonym)
	// Identical captions: P = R = 1, one chunk covering everything, no penalty.
	near(t, "identical", meteorOf(t, m, "the cat sat on the mat", "the cat sat on the mat"), 1, 1e-15)

	// "a dog runs" vs "the dog running": dog exact, runs~running by stem (weight 0.6), the
	// function words a/the unmatched (weight 1 − δ = 0.25 in the lengths). Weighted length
	// 0.75·2 + 0.25·1 = 1.75 on both sides; weighted matches 0.75·(1 + 0.6) = 1.2; one chunk
	// of 2 + 2 matched words.
	p := 1.2 / 1.75
	near(t, "stem", meteorOf(t, m, "a dog runs", "the dog running"), rankScore(p, p, 1, 4), 1e-15)

	// Synonyms (weight 0.8): puppy~dog share synset 200; "puppies" reaches "puppy" by WordNet's
	// suffix rule ies → y, "mice" reaches "mouse" by the exceptions list. Matches run
	// backwards in the hypothesis: two chunks.
	p = (0.75 * 0.8 * 2) / (0.75 * 2)
	near(t, "synonyms", meteorOf(t, m, "mice puppies", "dog rodent"), rankScore(p, p, 2, 4), 1e-15)

	// Unequal lengths: "cat" matches in a 3-word reference with function word "the":
	// P = 0.75/0.75 = 1, R = 0.75/(0.75·2 + 0.25) = 3/7.
	near(t, "recall", meteorOf(t, m, "cat", "the cat sleeps"), rankScore(1, 0.75/1.75, 1, 2), 1e-15)
}

func TestMeteorParaphraseModule(t *testing.T) {
	m := tinyMeteor(t, allModules, "a man", "a guy", "a guy", "a man")
	if m.Name() != MeteorName {
		t.Fatalf("Name() = %q with a paraphrase table", m.Name())
	}
	// "a guy walks" vs "a man walks": the paraphrase a guy ~ a man (weight 0.6, listed both
	// ways) ties in the search with the exact "a" (a two-word paraphrase adds 2·0.5 to each
	// side, the exact word 1), and wins on chunks: everything aligned in one chunk, so no
	// penalty. Matched weight per side: walks 0.75 + guy 0.6·0.75 + a 0.6·0.25 = 1.35.
	p := 1.35 / 1.75
	near(t, "paraphrase", meteorOf(t, m, "a guy walks", "a man walks"), 1/(0.15/p+0.85/p), 1e-15)
	// Without the module, "guy" stays unmatched.
	noPara := tinyMeteor(t, exactStemSynonym)
	if noPara.Name() != MeteorNoParaphraseName {
		t.Fatalf("Name() = %q without a paraphrase table", noPara.Name())
	}
	p = 1.0 / 1.75
	near(t, "no paraphrase", meteorOf(t, noPara, "a guy walks", "a man walks"), rankScore(p, p, 2, 4), 1e-15)
}

func TestMeteorCorpusIsTheScoreOfSummedStatistics(t *testing.T) {
	m := tinyMeteor(t, exactStemSynonym)
	examples := []Example{ex("the cat sat", "the cat sat"), ex("a dog runs", "the dog running")}
	r, err := m.Score(examples)
	if err != nil {
		t.Fatal(err)
	}
	// Sums: lengths 6 and 6 with 2 function words each side; matches 3 exact (1 of them
	// a function word) + dog exact + runs stem. The perfect first segment's chunk is not
	// counted (MeteorStats.addStats): 1 chunk over 5 + 5 matched words.
	p := (0.75*(2+1+0.6) + 0.25*1) / (0.75*4 + 0.25*2)
	near(t, "corpus", r.Score, rankScore(p, p, 1, 10), 1e-15)
	if mean := (r.Segments[0] + r.Segments[1]) / 2; math.Abs(mean-r.Score) < 1e-3 {
		t.Errorf("corpus %v is the mean of the segments %v", r.Score, r.Segments)
	}
}

func TestMeteorKeepsTheFirstBestReference(t *testing.T) {
	m := tinyMeteor(t, exactStemSynonym)
	// The reference scored best decides the segment; equal ones keep the first, whose
	// statistics enter the corpus sum.
	one := meteorOf(t, m, "a dog runs", "the dog running")
	near(t, "best of three", meteorOf(t, m, "a dog runs", "a cat", "the dog running", "zebra"), one, 0)
	r, err := m.Score([]Example{ex("dog cat", "cat dog", "dog x cat")})
	if err != nil {
		t.Fatal(err)
	}
	if len(r.Segments) != 1 || r.Segments[0] != r.Score {
		t.Fatalf("single segment %v, corpus %v", r.Segments, r.Score)
	}
}

func TestMeteorEmptyCaptionsScoreZero(t *testing.T) {
	m := tinyMeteor(t, exactStemSynonym)
	r, err := m.Score([]Example{{Candidate: nil, References: [][]string{toks("a dog")}}, ex("a dog", "")})
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(r.Segments, []float64{0, 0}) || r.Score != 0 {
		t.Fatalf("empty captions scored %v, corpus %v", r.Segments, r.Score)
	}
	if _, err := m.Score([]Example{{Candidate: toks("a dog")}}); err == nil {
		t.Fatal("no error for an example without references")
	}
}

func TestMeteorNormalizesLikeMeteorNorm(t *testing.T) {
	// Outputs of METEOR 1.5's Normalizer (English, punctuation kept) then lower-casing, as the
	// Java prints them.
	prefixes := parsePrefixes(tinyMeteorData.prefixes)
	for in, want := range map[string]string{
		"the dog 's ball":    "the dog ' s ball",
		"do n't":             "do n 't",
		"in the u.s.":        "in the us",
		"at 3:30 pm":         "at 3 : 30 pm",
		"a t-shirt":          "a t shirt",
		"black-and-white":    "black and white",
		"1,000 people":       "1,000 people",
		"a,b":                "a , b",
		"mr. smith":          "mr. smith",
		"Mr.":                "mr.",
		"the end.":           "the end .",
		"No. 5":              "no. 5",
		"no. 5":              "no . 5",
		"wait...":            "wait ...",
		"rock & roll":        "rock & roll",
		"a “big” dog":        `a " big " dog`,
		"it’s":               "it 's",
		"1990's":             "1990 's",
		"dogs'":              "dogs '",
		"x -- y":             "x - y",
		"a–b":                "a - b",
		"  spaced\u00a0out ": "spaced out",
		"İ":                  "i\u0307",
	} {
		if got := strings.Join(normalizeTokens(in, prefixes), " "); got != want {
			t.Errorf("normalize(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestMeteorSynonymLookup(t *testing.T) {
	d := &synonymDict{synsets: map[string][]int32{"dog": {7, 3}, "box": {5}, "church": {6}, "fox": {9}, "nice": {8}}, bases: map[string][]string{"mice": {"mouse", "dog"}}}
	// "mice" has the exception's bases and no suffix rule; words ending in "ss" and short words
	// are looked up as they are.
	for word, want := range map[string][]int32{
		"dog": {3, 7}, "dogs": {3, 7}, "boxes": {5}, "churches": {6}, "foxes": {9}, "nicest": {8}, "nicer": {8},
		"mice": {3, 7}, "ss": nil, "cross": nil, "unknown": nil,
	} {
		if got := d.lookup(word); !reflect.DeepEqual(got, want) && len(got)+len(want) > 0 {
			t.Errorf("lookup(%q) = %v, want %v", word, got, want)
		}
	}
}

func TestJavaHashAndSnowballStem(t *testing.T) {
	for s, want := range map[string]int32{"": 0, "hello": 99162322, "Aa": 2112, "BB": 2112, "polygenelubricants": math.MinInt32, "😀": 1772899} {
		if got := javaHash(s); got != want {
			t.Errorf("javaHash(%q) = %d, want %d", s, got, want)
		}
	}
	for word, want := range map[string]string{"running": "run", "dying": "die", "skis": "ski", "generously": "generous", "beautiful": "beauti", "és": "és", "us": "us"} {
		if got := snowballStem(word); got != want {
			t.Errorf("stem(%q) = %q, want %q", word, got, want)
		}
	}
}

func TestParaphraseTableKeepsVocabularyEntriesInOrder(t *testing.T) {
	// Over a megabyte of entries read one byte at a time, so that lines straddle the reader's
	// buffer refills; only entries made of vocabulary words are kept, in file order.
	var text strings.Builder
	for i := range 40000 {
		fmt.Fprintf(&text, "0.%d\nw%d shared\nw%d\n", i, i%500, i%700)
	}
	text.WriteString("0.1\nshared\nnot-in-vocabulary\n0.2\nshared\nw1 w2\n")
	vocab := map[string]bool{"shared": true, "w1": true, "w2": true, "w3": true}
	tab, err := readParaphrases(iotest.HalfReader(strings.NewReader(text.String())), vocab)
	if err != nil {
		t.Fatal(err)
	}
	// Kept: i%500 ∈ {1, 2, 3} and i%700 ∈ {1, 2, 3} (i ≡ 1, 2, 3 mod 3500), then "shared" → "w1 w2".
	var got []string
	words := []int32{tab.lookup("w1"), tab.lookup("shared")}
	var buf []int32
	firstWords := []int32{tab.lookup("w1"), tab.lookup("w2"), tab.lookup("w3")}
	tab.eachPhraseAt(words, 0, firstWords, &buf, func(length int, para []int32) { got = append(got, fmt.Sprint(length, para)) })
	tab.eachPhraseAt(words, 1, firstWords, &buf, func(length int, para []int32) { got = append(got, fmt.Sprint(length, para)) })
	w1, w2 := tab.lookup("w1"), tab.lookup("w2")
	want := make([]string, 0, 13)
	for range 40000/3500 + 1 {
		want = append(want, fmt.Sprint(2, []int32{w1}))
	}
	want = append(want, fmt.Sprint(1, []int32{w1, w2}))
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("phrases at w1 shared: %v, want %v", got, want)
	}
	if _, err := readParaphrases(strings.NewReader("0.5\na man\n"), map[string]bool{}); err == nil {
		t.Fatal("no error for a table cut short")
	}
}
