package text

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"

	"github.com/attncap/attncap/internal/atomicfile"
	"github.com/attncap/attncap/internal/jsonfile"
)

// Special tokens, always the first four ids of every Vocab.
const (
	PadToken   = "<pad>"
	StartToken = "<start>"
	EndToken   = "<end>"
	UnkToken   = "<unk>"

	PadID   = 0
	StartID = 1
	EndID   = 2
	UnkID   = 3
)

// DefaultMinCount is the number of times a word must occur in the training captions to get its
// own id; rarer words map to <unk>.
const DefaultMinCount = 5

// DefaultMaxLen is the default length of an encoded caption, including <start> and <end>.
const DefaultMaxLen = 50

// Vocab maps words to ids and back. Ids 0..3 are <pad>, <start>, <end>, <unk>; the others are
// words ordered by decreasing training frequency (ties alphabetically), so that a vocabulary is
// reproducible from its data.
type Vocab struct {
	// Words indexed by id.
	Words []string `json:"words"`
	// MinCount used to build it (informational).
	MinCount int `json:"min_count"`

	ids map[string]int
}

// BuildVocab counts the words of already tokenized captions and keeps those seen at least
// minCount times. Pass only the training split's captions: counting val/test words leaks them
// into the model.
func BuildVocab(tokenized [][]string, minCount int) *Vocab {
	if minCount < 1 {
		minCount = 1
	}
	counts := map[string]int{}
	for _, caption := range tokenized {
		for _, w := range caption {
			counts[w]++
		}
	}
	var words []string
	for w, c := range counts {
		if c >= minCount && !isSpecial(w) {
			words = append(words, w)
		}
	}
	sort.Slice(words, func(i, j int) bool {
		if counts[words[i]] != counts[words[j]] {
			return counts[words[i]] > counts[words[j]]
		}
		return words[i] < words[j]
	})
	v := &Vocab{Words: append([]string{PadToken, StartToken, EndToken, UnkToken}, words...), MinCount: minCount}
	v.index()
	return v
}

// MostFrequent returns the most frequent word of tokenized captions (ties: the alphabetically
// first) and its count, the special tokens left out: the highest min-count that keeps a word.
// It returns "" and 0 when the captions hold no word.
func MostFrequent(tokenized [][]string) (word string, count int) {
	counts := map[string]int{}
	for _, caption := range tokenized {
		for _, w := range caption {
			if !isSpecial(w) {
				counts[w]++
			}
		}
	}
	for w, c := range counts {
		if c > count || (c == count && w < word) {
			word, count = w, c
		}
	}
	return word, count
}

// CountUnknown returns how many of the tokens of tokenized captions v maps to <unk>, and how
// many tokens there are.
func (v *Vocab) CountUnknown(tokenized [][]string) (unknown, total int) {
	for _, caption := range tokenized {
		for _, w := range caption {
			if v.ID(w) == UnkID {
				unknown++
			}
		}
		total += len(caption)
	}
	return unknown, total
}

func isSpecial(w string) bool {
	return w == PadToken || w == StartToken || w == EndToken || w == UnkToken
}

func (v *Vocab) index() {
	v.ids = make(map[string]int, len(v.Words))
	for i, w := range v.Words {
		v.ids[w] = i
	}
}

// Size is the number of ids, the four special tokens included.
func (v *Vocab) Size() int { return len(v.Words) }

// ID returns the id of a word, or UnkID for a word not in the vocabulary.
func (v *Vocab) ID(word string) int {
	if id, ok := v.ids[word]; ok {
		return id
	}
	return UnkID
}

// Word returns the word of an id; ids out of range give <unk>.
func (v *Vocab) Word(id int) string {
	if id < 0 || id >= len(v.Words) {
		return UnkToken
	}
	return v.Words[id]
}

// Encode turns tokens into <start> ids... <end>, padded with <pad> to maxLen. A caption longer
// than maxLen-2 words is cut to its first maxLen-2 words (still ending in <end>) and truncated
// is true. maxLen <= 0 means no padding and no limit.
func (v *Vocab) Encode(tokens []string, maxLen int) (ids []int32, truncated bool) {
	n := len(tokens)
	if maxLen > 0 {
		if maxLen < 2 {
			maxLen = 2
		}
		if n > maxLen-2 {
			n, truncated = maxLen-2, true
		}
	}
	size := n + 2
	if maxLen > 0 {
		size = maxLen
	}
	ids = make([]int32, size) // zero-filled: PadID == 0
	ids[0] = StartID
	for i, w := range tokens[:n] {
		ids[i+1] = int32(v.ID(w))
	}
	ids[n+1] = EndID
	return ids, truncated
}

// Decode turns ids back into words, skipping <start>, stopping at <end> or <pad>.
func (v *Vocab) Decode(ids []int32) []string {
	var words []string
	for _, id := range ids {
		switch id {
		case StartID:
			continue
		case EndID, PadID:
			return words
		}
		words = append(words, v.Word(int(id)))
	}
	return words
}

// Save writes the vocabulary as JSON, atomically (write to a temporary file, then rename).
func (v *Vocab) Save(path string) error { return atomicfile.WriteJSON(path, v) }

// LoadVocab reads a vocabulary saved by Save, checking that the special tokens are in place.
func LoadVocab(path string) (*Vocab, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("vocabulary: %w", err)
	}
	v := &Vocab{}
	if err := jsonfile.Check(path, data, `a vocabulary: {"words": ["<pad>", "<start>", "<end>", "<unk>", …]}`); err != nil {
		return nil, fmt.Errorf("vocabulary %w", err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return nil, fmt.Errorf("vocabulary %w", jsonfile.Describe(path, data, err))
	}
	specials := []string{PadToken, StartToken, EndToken, UnkToken}
	if len(v.Words) < len(specials) {
		return nil, fmt.Errorf("vocabulary %s: has %d words, needs at least the 4 special tokens", path, len(v.Words))
	}
	for i, s := range specials {
		if v.Words[i] != s {
			return nil, fmt.Errorf("vocabulary %s: id %d is %q, want %q", path, i, v.Words[i], s)
		}
	}
	v.index()
	if len(v.ids) != len(v.Words) {
		return nil, fmt.Errorf("vocabulary %s: has duplicate words", path)
	}
	return v, nil
}

// NewVocab is the vocabulary of words indexed by id, which must start with the four special
// tokens (<pad>, <start>, <end>, <unk>) and hold no word twice: for vocabularies made elsewhere
// (an imported model's word map).
func NewVocab(words []string) (*Vocab, error) {
	specials := []string{PadToken, StartToken, EndToken, UnkToken}
	if len(words) < len(specials) {
		return nil, fmt.Errorf("vocabulary of %d words: needs at least the 4 special tokens", len(words))
	}
	for i, s := range specials {
		if words[i] != s {
			return nil, fmt.Errorf("vocabulary: id %d is %q, want %q", i, words[i], s)
		}
	}
	v := &Vocab{Words: words}
	v.index()
	if len(v.ids) != len(v.Words) {
		return nil, fmt.Errorf("vocabulary: has duplicate words")
	}
	return v, nil
}
