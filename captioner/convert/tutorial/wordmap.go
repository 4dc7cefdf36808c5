package tutorial

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/attncap/attncap/datasets/text"
	"github.com/attncap/attncap/internal/jsonfile"
)

// wordMap is the tutorial's WORDMAP_….json: word → id, with <pad> 0, the words from 1, then
// <unk>, <start> and <end> (create_input_files.py).
type wordMap map[string]int

// loadWordMap reads and checks a word map: the four special tokens present, <pad> at 0, the ids
// exactly 0 … n−1.
func loadWordMap(path string) (wordMap, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("word map: %w", err)
	}
	if err := jsonfile.Check(path, data, `the tutorial's word map: {"word": id, …, "<unk>": …, "<start>": …, "<end>": …, "<pad>": 0}`); err != nil {
		return nil, fmt.Errorf("word map %w", err)
	}
	var wm wordMap
	if err := json.Unmarshal(data, &wm); err != nil {
		return nil, fmt.Errorf("word map %w", jsonfile.Describe(path, data, err))
	}
	for _, s := range []string{text.PadToken, text.StartToken, text.EndToken, text.UnkToken} {
		if _, ok := wm[s]; !ok {
			return nil, fmt.Errorf("word map %s: no %s (is it the tutorial's WORDMAP_….json?)", path, s)
		}
	}
	if wm[text.PadToken] != 0 {
		return nil, fmt.Errorf("word map %s: <pad> has id %d, the tutorial's has 0", path, wm[text.PadToken])
	}
	seen := make([]bool, len(wm))
	for w, id := range wm {
		if w == "" || strings.ContainsAny(w, " \t\n") {
			return nil, fmt.Errorf("word map %s: the word %q is empty or has spaces: a word map holds single tokens", path, w)
		}
		if id < 0 || id >= len(wm) || seen[id] {
			return nil, fmt.Errorf("word map %s: ids must be 0 … %d, each once; %q has %d", path, len(wm)-1, w, id)
		}
		seen[id] = true
	}
	return wm, nil
}

// vocab is the word map as an attncap vocabulary — the special tokens first, then the words in
// the word map's order — and perm, the word map's id of each attncap id (perm[attncapID]),
// which reorders the rows of the embedding and the output layer.
func (wm wordMap) vocab() (v *text.Vocab, perm []int, err error) {
	type entry struct {
		word string
		id   int
	}
	var words []entry
	for w, id := range wm {
		switch w {
		case text.PadToken, text.StartToken, text.EndToken, text.UnkToken:
		default:
			words = append(words, entry{w, id})
		}
	}
	sort.Slice(words, func(i, j int) bool { return words[i].id < words[j].id })
	list := []string{text.PadToken, text.StartToken, text.EndToken, text.UnkToken}
	perm = []int{wm[text.PadToken], wm[text.StartToken], wm[text.EndToken], wm[text.UnkToken]}
	for _, e := range words {
		list = append(list, e.word)
		perm = append(perm, e.id)
	}
	v, err = text.NewVocab(list)
	return v, perm, err
}
