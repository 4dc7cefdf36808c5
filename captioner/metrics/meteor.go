package metrics

import (
	"fmt"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
)

// Score names of METEOR: with all four modules, and without the paraphrase module.
const (
	MeteorName             = "METEOR"
	MeteorNoParaphraseName = "METEOR_noparaphrase"
)

// Meteor scores captions with METEOR 1.5 as coco-caption runs it
// (java -jar meteor-1.5.jar - - -stdio -l en -norm), in Go. Each caption is normalized with
// METEOR's -norm rules and lower-cased; the hypothesis is aligned with each reference by the
// modules exact, stem (Snowball English), synonym (WordNet synsets) and, with a paraphrase
// table, paraphrase, through METEOR's beam search (beam 40); the statistics of the
// best-scoring reference are kept (ties: the first). The corpus score is that of the statistics
// summed over all images (the chunks of perfectly aligned images left out, as METEOR's
// MeteorStats.addStats does), not the mean of image scores. English task "rank" parameters:
// α 0.85, β 0.20, γ 0.60, δ 0.75, module weights 1.0, 0.6, 0.8, 0.6; function words
// (english.words) weigh 1 − δ in lengths and matches. The formula is
// MeteorScorer.computeMetrics of METEOR 1.5 (github.com/cmu-mtlab/meteor, src/edu/cmu/meteor):
//
//	P = Σ_modules w·(δ·matched content words + (1−δ)·matched function words) / (δ·content words + (1−δ)·function words), of the hypothesis
//	R = the same of the reference
//	Fmean = 1 / ((1−α)/P + α/R)
//	penalty = γ·(chunks / mean matched words)^β, 0 when every word is matched in one chunk
//	METEOR = Fmean·(1 − penalty), 0 for an empty caption
//
// Matched exactly, since the scores depend on them: the -norm normalizer (Normalizer, English,
// punctuation kept, nonbreaking prefixes from english.prefixes); words compared by Java's
// String.hashCode; the stemmer (Snowball English, github.com/kljensen/snowball, checked on
// 164,000 words against METEOR's); synonym lookup (english.synsets, irregular forms from
// english.exceptions, else WordNet's suffix rules); the paraphrase matcher (both directions,
// table order); the fixed one-to-one matches and the beam search with its ranking, including
// its int-truncated weighted counts and its distance bookkeeping; the best reference; the
// corpus sums; the order of floating-point operations. Segment and corpus scores equal the
// Java METEOR's to the last bits (Go's math.Pow and Java's Math.pow may round differently).
// A Meteor is safe for concurrent use.
type Meteor struct {
	modules   []meteorModule
	params    meteorParams
	prefixes  map[string]int
	function  map[string]bool
	synonyms  *synonymDict
	paraPath  string
	paraMu    sync.Mutex
	paraVocab map[string]bool // words the loaded paraphrase entries were chosen for
	paraTable *paraphraseTable
}

// MeteorResult is METEOR over a corpus.
type MeteorResult struct {
	Name     string    // MeteorName, or MeteorNoParaphraseName without a paraphrase table
	Score    float64   // of the statistics summed over the images
	Segments []float64 // per image: the score of its best reference
}

// LoadMeteorIfAvailable is LoadMeteor for callers that can score without METEOR (training's
// final test, scripts/evaluate): data that was named (opts.DataDir or opts.Paraphrase) and
// cannot be read is an error, as in LoadMeteor; when the default data cannot be had (offline,
// no $ATTNCAP_METEOR_DATA) it returns no Meteor and, as missing, the reason, for the caller
// to warn and go on without METEOR.
func LoadMeteorIfAvailable(opts MeteorOptions) (m *Meteor, missing, err error) {
	m, err = LoadMeteor(opts)
	if err != nil && opts.DataDir == "" && opts.Paraphrase == "" {
		return nil, err, nil
	}
	return m, nil, err
}

// LoadMeteor reads METEOR's data files (fetching them into the cache on first use unless
// opts.DataDir is set) and finds the paraphrase table; see MeteorOptions.
func LoadMeteor(opts MeteorOptions) (*Meteor, error) {
	paraPath, err := findParaphrases(opts.Paraphrase, "") // a table named is checked first
	if err != nil {
		return nil, err
	}
	data, dir, err := readMeteorData(opts)
	if err != nil {
		return nil, err
	}
	if paraPath == "" {
		if paraPath, err = findParaphrases("", dir); err != nil {
			return nil, err
		}
	}
	modules := []meteorModule{moduleExact, moduleStem, moduleSynonym}
	if paraPath != "" {
		modules = append(modules, moduleParaphrase)
	}
	return newMeteor(data, modules, paraPath)
}

// newMeteor makes a Meteor with the given modules (a prefix of exact, stem, synonym,
// paraphrase) from the data files' text.
func newMeteor(data meteorData, modules []meteorModule, paraPath string) (*Meteor, error) {
	synsets, err := parseSynsets(data.synsets)
	if err != nil {
		return nil, fmt.Errorf("METEOR data: english.synsets: %w", err)
	}
	return &Meteor{
		modules:  modules,
		params:   rankParams(len(modules)),
		prefixes: parsePrefixes(data.prefixes),
		function: parseFunctionWords(data.functionWords),
		synonyms: &synonymDict{synsets: synsets, bases: parseExceptions(data.exceptions)},
		paraPath: paraPath,
	}, nil
}

// Name is the name of the score: MeteorName with the paraphrase module, else
// MeteorNoParaphraseName.
func (m *Meteor) Name() string {
	if m.uses(moduleParaphrase) {
		return MeteorName
	}
	return MeteorNoParaphraseName
}

func (m *Meteor) uses(module meteorModule) bool {
	for _, x := range m.modules {
		if x == module {
			return true
		}
	}
	return false
}

// Score computes METEOR over examples (tokenized as for Evaluate; METEOR joins each caption's
// tokens with spaces and normalizes it again, as coco-caption hands it PTB-tokenized text).
// Images are scored in parallel. It is an error for an example to have no reference.
func (m *Meteor) Score(examples []Example) (MeteorResult, error) {
	for i, e := range examples {
		if len(e.References) == 0 {
			return MeteorResult{}, fmt.Errorf("metrics: example %d has no reference caption", i)
		}
	}
	c := m.newCorpus(examples)
	words, para, err := m.wordTable(c.vocab)
	if err != nil {
		return MeteorResult{}, err
	}
	best := m.bestStats(c, words, para)
	res := MeteorResult{Name: m.Name(), Segments: make([]float64, len(best))}
	var total meteorStats
	for i, s := range best {
		res.Segments[i] = m.params.score(s)
		total.add(s)
	}
	res.Score = m.params.score(total)
	return res, nil
}

// meteorCorpus is a corpus as METEOR sees it: normalized captions as word ids.
type meteorCorpus struct {
	vocab []string // by id
	hyps  [][]int32
	refs  [][][]int32
}

// newCorpus normalizes every caption as coco-caption hands it to METEOR: the tokens joined by
// spaces, "|||" (its field separator) removed from the hypothesis and splitting a reference.
func (m *Meteor) newCorpus(examples []Example) *meteorCorpus {
	c := &meteorCorpus{}
	ids := map[string]int32{}
	cache := map[string][]int32{}
	sentence := func(text string) []int32 {
		if s, ok := cache[text]; ok {
			return s
		}
		var s []int32
		for _, w := range normalizeTokens(text, m.prefixes) {
			id, ok := ids[w]
			if !ok {
				id = int32(len(c.vocab))
				ids[w] = id
				c.vocab = append(c.vocab, w)
			}
			s = append(s, id)
		}
		cache[text] = s
		return s
	}
	for _, e := range examples {
		c.hyps = append(c.hyps, sentence(strings.ReplaceAll(strings.Join(e.Candidate, " "), "|||", "")))
		var refs [][]int32
		for _, r := range e.References {
			for _, part := range strings.Split(strings.Join(r, " "), "|||") {
				refs = append(refs, sentence(javaTrim(part)))
			}
		}
		c.refs = append(c.refs, refs)
	}
	return c
}

// wordTable looks up what the modules need of every word of the vocabulary.
func (m *Meteor) wordTable(vocab []string) ([]meteorWord, *paraphraseTable, error) {
	var para *paraphraseTable
	if m.uses(moduleParaphrase) {
		var err error
		if para, err = m.paraphrasesFor(vocab); err != nil {
			return nil, nil, err
		}
	}
	words := make([]meteorWord, len(vocab))
	for i, w := range vocab {
		words[i] = meteorWord{hash: javaHash(w), function: m.function[w], para: -1}
		if m.uses(moduleStem) {
			words[i].stem = javaHash(snowballStem(w))
		}
		if m.uses(moduleSynonym) {
			words[i].synsets = m.synonyms.lookup(w)
		}
		if para != nil {
			words[i].para = para.lookup(w)
		}
	}
	return words, para, nil
}

// paraphrasesFor returns the paraphrase entries that can match the vocabulary, reading the
// table again only when the vocabulary has words the loaded entries were not chosen for.
func (m *Meteor) paraphrasesFor(vocab []string) (*paraphraseTable, error) {
	m.paraMu.Lock()
	defer m.paraMu.Unlock()
	covered := m.paraTable != nil
	for _, w := range vocab {
		covered = covered && m.paraVocab[w]
	}
	if covered {
		return m.paraTable, nil
	}
	union := map[string]bool{}
	for w := range m.paraVocab {
		union[w] = true
	}
	for _, w := range vocab {
		union[w] = true
	}
	t, err := loadParaphrases(m.paraPath, union)
	if err != nil {
		return nil, err
	}
	m.paraVocab, m.paraTable = union, t
	return t, nil
}

// bestStats aligns every image's hypothesis with each of its references, in parallel over
// images, and keeps the statistics of the best-scoring reference (the first of equals).
func (m *Meteor) bestStats(c *meteorCorpus, words []meteorWord, para *paraphraseTable) []meteorStats {
	best := make([]meteorStats, len(c.hyps))
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(runtime.GOMAXPROCS(0), len(c.hyps)) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := newAligner(m.modules, words, para)
			for i := int(next.Add(1) - 1); i < len(c.hyps); i = int(next.Add(1) - 1) {
				best[i] = m.bestReference(a, c.hyps[i], c.refs[i])
			}
		}()
	}
	wg.Wait()
	return best
}

// bestReference is MeteorScorer.getMeteorStats for a hypothesis and its references.
func (m *Meteor) bestReference(a *aligner, hyp []int32, refs [][]int32) meteorStats {
	var best meteorStats
	bestScore := -1.0
	for _, ref := range refs {
		s := a.align(hyp, ref)
		if score := m.params.score(s); score > bestScore {
			best, bestScore = s, score
		}
	}
	return best
}
