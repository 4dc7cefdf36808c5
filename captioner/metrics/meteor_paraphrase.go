package metrics

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
)

// paraphraseTable is METEOR's paraphrase module (aligner.ParaphraseTransducer) restricted to
// the entries that can match a given vocabulary: a trie of phrases whose end states list, in
// file order, the paraphrases of the phrase. An entry with a word outside the vocabulary can
// never match a caption made of it, so leaving it out changes no alignment. The paraphrases of
// a state are kept by first word, so that only those that can start in a given caption are
// looked at.
type paraphraseTable struct {
	ids         map[string]int32 // vocabulary word → id
	next        map[uint64]int32 // trie edge (state<<32 | word id) → state; state 0 is the root
	states      int32
	byFirst     map[uint64][]int32 // state<<32 | first word id of the paraphrase → indices into paraphrases, ascending
	paraphrases [][]int32
}

// emptyPhrase is the first-word key of an empty paraphrase.
const emptyPhrase = -2

func stateKey(state, word int32) uint64 { return uint64(state)<<32 | uint64(uint32(word)) }

// loadParaphrases reads a gzipped paraphrase table (repeated triples of lines: a probability,
// a phrase, its paraphrase), keeping the entries made of vocab's words.
func loadParaphrases(path string, vocab map[string]bool) (*paraphraseTable, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("paraphrase table: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(bufio.NewReaderSize(f, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("paraphrase table %s: not gzip data: %w", path, err)
	}
	ahead := newReadAhead(zr) // decompress on another core while this one parses
	defer ahead.close()
	t, err := readParaphrases(ahead, vocab)
	if err != nil {
		return nil, fmt.Errorf("paraphrase table %s: %w", path, err)
	}
	return t, nil
}

// readParaphrases reads the triples of a paraphrase table; see loadParaphrases.
func readParaphrases(r io.Reader, vocab map[string]bool) (*paraphraseTable, error) {
	t := &paraphraseTable{ids: map[string]int32{}, next: map[uint64]int32{}, states: 1, byFirst: map[uint64][]int32{}}
	br := bufio.NewReaderSize(r, 1<<20)
	var phrase, para [][]byte
	var phraseLine []byte
	for entry := 0; ; entry++ {
		if _, err := readLine(br); err == io.EOF {
			return t, nil
		} else if err != nil {
			return nil, err
		}
		line, err1 := readLine(br)
		phraseLine = append(phraseLine[:0], line...) // the next read may overwrite line
		paraLine, err2 := readLine(br)
		if err := errors.Join(err1, err2); err != nil {
			if errors.Is(err, io.EOF) {
				return nil, fmt.Errorf("entry %d is cut short (want a probability, a phrase and its paraphrase)", entry+1)
			}
			return nil, err
		}
		phrase, para = appendJavaTokens(phrase[:0], phraseLine), appendJavaTokens(para[:0], paraLine)
		if inVocab(phrase, vocab) && inVocab(para, vocab) {
			t.add(phrase, para)
		}
	}
}

// readAhead reads its source in a goroutine, a few chunks ahead of its reader.
type readAhead struct {
	chunks chan []byte
	errc   chan error
	done   chan struct{}
	cur    []byte
	err    error
}

func newReadAhead(src io.Reader) *readAhead {
	r := &readAhead{chunks: make(chan []byte, 4), errc: make(chan error, 1), done: make(chan struct{})}
	go func() {
		defer close(r.chunks)
		for {
			buf := make([]byte, 1<<20)
			n, err := io.ReadFull(src, buf)
			if n > 0 {
				select {
				case r.chunks <- buf[:n]:
				case <-r.done:
					return
				}
			}
			if err == io.EOF || err == io.ErrUnexpectedEOF {
				return
			} else if err != nil {
				r.errc <- err
				return
			}
		}
	}()
	return r
}

func (r *readAhead) Read(p []byte) (int, error) {
	for len(r.cur) == 0 {
		if r.err != nil {
			return 0, r.err
		}
		chunk, ok := <-r.chunks
		if !ok {
			select {
			case r.err = <-r.errc:
			default:
				r.err = io.EOF
			}
			continue
		}
		r.cur = chunk
	}
	n := copy(p, r.cur)
	r.cur = r.cur[n:]
	return n, nil
}

// close stops the reading goroutine.
func (r *readAhead) close() { close(r.done) }

// readLine reads one line without its terminator (\n or \r\n). The bytes are valid until the
// next read.
func readLine(br *bufio.Reader) ([]byte, error) {
	line, err := br.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		var rest []byte
		rest, err = br.ReadBytes('\n')
		line = append(append([]byte(nil), line...), rest...)
	}
	if err == io.EOF && len(line) > 0 {
		err = nil
	}
	if err != nil {
		return nil, err
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

// appendJavaTokens appends the StringTokenizer tokens of line (see javaTokens) to dst.
func appendJavaTokens(dst [][]byte, line []byte) [][]byte {
	start := -1
	for i, c := range line {
		if c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' {
			if start >= 0 {
				dst = append(dst, line[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		dst = append(dst, line[start:])
	}
	return dst
}

func inVocab(words [][]byte, vocab map[string]bool) bool {
	for _, w := range words {
		if !vocab[string(w)] {
			return false
		}
	}
	return true
}

// add puts an entry into the trie.
func (t *paraphraseTable) add(phrase, para [][]byte) {
	state := int32(0)
	for _, w := range phrase {
		key := stateKey(state, t.id(w))
		next, ok := t.next[key]
		if !ok {
			next = t.states
			t.states++
			t.next[key] = next
		}
		state = next
	}
	ids := make([]int32, len(para))
	for i, w := range para {
		ids[i] = t.id(w)
	}
	first := int32(emptyPhrase)
	if len(ids) > 0 {
		first = ids[0]
	}
	key := stateKey(state, first)
	t.byFirst[key] = append(t.byFirst[key], int32(len(t.paraphrases)))
	t.paraphrases = append(t.paraphrases, ids)
}

// id is a word's id, given on first sight.
func (t *paraphraseTable) id(w []byte) int32 {
	if id, ok := t.ids[string(w)]; ok {
		return id
	}
	id := int32(len(t.ids))
	t.ids[string(w)] = id
	return id
}

// lookup is a word's id in the table, -1 if no kept entry has it.
func (t *paraphraseTable) lookup(w string) int32 {
	if id, ok := t.ids[w]; ok {
		return id
	}
	return -1
}

// eachPhraseAt calls fn for every phrase of the table that starts at words[start], shortest
// first, and for each of its paraphrases in table order (ParaphraseTransducer.getPaths),
// leaving out the paraphrases whose first word is not in firstWords (distinct ids): those
// cannot occur in the caption firstWords come from. buf is scratch space.
func (t *paraphraseTable) eachPhraseAt(words []int32, start int, firstWords []int32, buf *[]int32, fn func(length int, para []int32)) {
	state := int32(0)
	for i := start; i < len(words) && words[i] >= 0; i++ {
		next, ok := t.next[stateKey(state, words[i])]
		if !ok {
			return
		}
		state = next
		found := append((*buf)[:0], t.byFirst[stateKey(state, emptyPhrase)]...)
		groups := len(found)
		for _, w := range firstWords {
			if list := t.byFirst[stateKey(state, w)]; len(list) > 0 {
				found = append(found, list...)
				groups++
			}
		}
		if groups > 1 {
			slices.Sort(found) // back to table order
		}
		for _, p := range found {
			fn(i-start+1, t.paraphrases[p])
		}
		*buf = found
	}
}

// matchParaphrases adds the paraphrase matches: phrases of the reference whose paraphrase is
// in the hypothesis, then phrases of the hypothesis whose paraphrase is in the reference
// (ParaphraseMatcher; a pair listed both ways is matched twice).
func (a *aligner) matchParaphrases(stage int, hyp, ref []int32) {
	ids1, ids2 := a.paraIDs(hyp), a.paraIDs(ref)
	index1, index2 := newWordIndex(ids1), newWordIndex(ids2)
	for j := range ids2 {
		a.para.eachPhraseAt(ids2, j, index1.distinct, &a.paraBuf, func(length int, para []int32) {
			for _, i := range index1.occurrences(ids1, para) {
				a.addMatch(meteorMatch{start: j, length: length, matchStart: i, matchLength: len(para), module: stage})
			}
		})
	}
	for i := range ids1 {
		a.para.eachPhraseAt(ids1, i, index2.distinct, &a.paraBuf, func(length int, para []int32) {
			for _, j := range index2.occurrences(ids2, para) {
				a.addMatch(meteorMatch{start: j, length: len(para), matchStart: i, matchLength: length, module: stage})
			}
		})
	}
}

// wordIndex lists the positions of each word of a sentence, to find phrases in it quickly.
type wordIndex struct {
	all      []int           // 0, 1, …, n−1
	where    map[int32][]int // word id → its positions, ascending
	distinct []int32         // the word ids in the paraphrase table, once each
}

func newWordIndex(ids []int32) wordIndex {
	x := wordIndex{all: make([]int, len(ids)), where: map[int32][]int{}}
	for i, id := range ids {
		x.all[i] = i
		if id >= 0 && x.where[id] == nil {
			x.distinct = append(x.distinct, id)
		}
		x.where[id] = append(x.where[id], i)
	}
	return x
}

// occurrences returns the positions where phrase occurs in ids, ascending (an empty phrase
// occurs everywhere, as in METEOR).
func (x wordIndex) occurrences(ids, phrase []int32) []int {
	if len(phrase) == 0 {
		return x.all
	}
	var found []int
	for _, i := range x.where[phrase[0]] {
		if occursAt(ids, i, phrase) {
			found = append(found, i)
		}
	}
	return found
}

func (a *aligner) paraIDs(words []int32) []int32 {
	ids := make([]int32, len(words))
	for i, w := range words {
		ids[i] = a.words[w].para
	}
	return ids
}

// occursAt reports whether phrase is words[i : i+len(phrase)].
func occursAt(words []int32, i int, phrase []int32) bool {
	for k, w := range phrase {
		if i+k == len(words) || words[i+k] != w {
			return false
		}
	}
	return true
}
