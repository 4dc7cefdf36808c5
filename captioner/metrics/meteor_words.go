package metrics

import (
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"

	"github.com/kljensen/snowball/english"
)

// javaHash is Java's String.hashCode: METEOR compares words (and stems) by it.
func javaHash(s string) int32 {
	var h int32
	for _, r := range s {
		if r >= 0x10000 {
			hi, lo := utf16.EncodeRune(r)
			h = 31*h + hi
			h = 31*h + lo
			continue
		}
		h = 31*h + r
	}
	return h
}

// javaLength is the length of s in UTF-16 code units, as Java counts a string's characters.
func javaLength(s string) int {
	n := 0
	for _, r := range s {
		n += utf16.RuneLen(r)
	}
	return n
}

// snowballStem is METEOR's stemmer: the Snowball English (Porter2) stemmer, which leaves words
// of fewer than three characters alone.
func snowballStem(word string) string {
	if javaLength(word) < 3 {
		return word
	}
	return english.Stem(word, true)
}

// synonymDict is METEOR's WordNet synonym module (aligner.SynonymDictionary): the synsets of
// each word (english.synsets) and the base forms of irregular inflections (english.exceptions).
type synonymDict struct {
	synsets map[string][]int32
	bases   map[string][]string
}

// parseSynsets reads english.synsets: a line with a word, then a line with its synset numbers.
func parseSynsets(data string) (map[string][]int32, error) {
	lines := splitLines(data)
	synsets := make(map[string][]int32, len(lines)/2)
	for i := 0; i+1 < len(lines); i += 2 {
		var ids []int32
		for _, f := range javaTokens(lines[i+1]) {
			id, err := strconv.ParseInt(f, 10, 32)
			if err != nil {
				return nil, err
			}
			ids = append(ids, int32(id))
		}
		synsets[lines[i]] = ids
	}
	return synsets, nil
}

// parseExceptions reads english.exceptions: a line with a base form, then a line with its
// irregular forms.
func parseExceptions(data string) map[string][]string {
	lines := splitLines(data)
	bases := map[string][]string{}
	for i := 0; i+1 < len(lines); i += 2 {
		for _, form := range javaTokens(lines[i+1]) {
			bases[form] = append(bases[form], lines[i])
		}
	}
	return bases
}

// lookup returns the synsets of a word as METEOR's SynonymMatcher sees them, sorted: those of
// the word itself and those of its base forms (its irregular bases if it has any, else the
// form WordNet's detachment rules find).
func (d *synonymDict) lookup(word string) []int32 {
	set := slices.Clone(d.synsets[word])
	if bases, ok := d.bases[word]; ok {
		for _, b := range bases {
			set = append(set, d.synsets[b]...)
		}
	} else {
		set = append(set, d.synsets[d.morph(word)]...)
	}
	slices.Sort(set)
	return slices.Compact(set)
}

// WordNet 3.0's detachment rules (morph.c) as METEOR applies them: noun, verb, then adjective
// suffixes, each replaced by its ending.
var (
	morphSuffixes = []string{"s", "ses", "xes", "zes", "ches", "shes", "men", "ies",
		"s", "ies", "es", "es", "ed", "ed", "ing", "ing", "er", "est", "er", "est"}
	morphEndings = []string{"", "s", "x", "z", "ch", "sh", "man", "y",
		"", "y", "e", "", "e", "", "e", "", "", "", "e", "e"}
)

// morph is METEOR's SynonymDictionary.morph: the word itself when it ends in "ss" or has at
// most two characters, else the first detachment that gives a word with synsets ("" if none;
// a word ending in "ful" keeps that ending on its base).
func (d *synonymDict) morph(word string) string {
	end := ""
	if strings.HasSuffix(word, "ful") {
		end = "ful"
	}
	if strings.HasSuffix(word, "ss") || javaLength(word) <= 2 {
		return word
	}
	for i, suffix := range morphSuffixes {
		stem, ok := strings.CutSuffix(word, suffix)
		if !ok {
			continue
		}
		if base := stem + morphEndings[i]; hasKey(d.synsets, base) {
			return base + end
		}
	}
	return ""
}

func hasKey[V any](m map[string]V, k string) bool { _, ok := m[k]; return ok }

// parseFunctionWords reads english.words: one function word per line.
func parseFunctionWords(data string) map[string]bool {
	words := map[string]bool{}
	for _, w := range splitLines(data) {
		words[w] = true
	}
	return words
}
