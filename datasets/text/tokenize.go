// Package text turns captions into tokens and token ids: one tokenizer shared by training and
// the metrics (so that a word means the same thing to both), and the vocabulary built from the
// training split.
//
// Tokenize follows the rules coco-caption applies before scoring (Stanford PTBTokenizer with
// -lowerCase, then punctuation tokens removed), for ordinary caption text: lower-case, split
// punctuation and English contractions off words, drop the punctuation tokens
// ” ' “ ` -LRB- -RRB- -LCB- -RCB- . ? ! , : - -- ... ;
package text

import (
	"strings"
	"unicode"
)

// dropped is the set of tokens coco-caption's PTBTokenizer wrapper removes after tokenizing
// (pycocoevalcap/tokenizer/ptbtokenizer.py, PUNCTUATIONS). Brackets are listed there by their
// PTB names; here they are dropped as the characters they stand for.
var dropped = map[string]bool{
	"''": true, "'": true, "``": true, "`": true,
	"-lrb-": true, "-rrb-": true, "-lcb-": true, "-rcb-": true,
	"(": true, ")": true, "{": true, "}": true, "[": true, "]": true,
	".": true, "?": true, "!": true, ",": true, ":": true,
	"-": true, "--": true, "...": true, ";": true, "\"": true,
}

// contractionSuffixes are split off the end of a word as their own token, as the Penn Treebank
// tokenizer does ("dog's" → "dog" "'s", "don't" → "do" "n't").
var contractionSuffixes = []string{"n't", "'ll", "'re", "'ve", "'s", "'m", "'d"}

// Tokenize lower-cases a caption and splits it into words, dropping punctuation tokens.
// "A dog's ball, (red)!" → [a dog 's ball red].
func Tokenize(caption string) []string {
	caption = normalizeQuotes(strings.ToLower(caption))
	var tokens []string
	for _, chunk := range strings.Fields(caption) {
		for _, tok := range splitChunk(chunk) {
			if tok != "" && !dropped[tok] {
				tokens = append(tokens, tok)
			}
		}
	}
	return tokens
}

// normalizeQuotes maps typographic quotes and dashes to their ASCII forms, as PTBTokenizer's
// asciiQuotes option does.
func normalizeQuotes(s string) string {
	return strings.NewReplacer(
		"\u2018", "'", "\u2019", "'", "\u201c", "\"", "\u201d", "\"",
		"\u2013", "-", "\u2014", "--", "\u2026", "...",
	).Replace(s)
}

// isBreakPunct reports characters that always stand as tokens of their own, wherever they are
// in a word.
func isBreakPunct(r rune) bool {
	switch r {
	case '"', '(', ')', '[', ']', '{', '}', '<', '>', ';', '!', '?', '`':
		return true
	}
	return false
}

// splitChunk tokenizes one whitespace-free chunk.
func splitChunk(chunk string) []string {
	runes := []rune(chunk)
	var out []string
	var word []rune
	flush := func() {
		if len(word) > 0 {
			out = append(out, splitWord(string(word))...)
			word = word[:0]
		}
	}
	for i := 0; i < len(runes); i++ {
		r := runes[i]
		switch {
		case isBreakPunct(r):
			flush()
			out = append(out, string(r))
		case r == '.' && i+2 < len(runes) && runes[i+1] == '.' && runes[i+2] == '.':
			flush()
			out = append(out, "...")
			i += 2
		case r == '-' && i+1 < len(runes) && runes[i+1] == '-':
			flush()
			out = append(out, "--")
			i++
		case (r == ',' || r == ':') && !(i > 0 && i+1 < len(runes) && unicode.IsDigit(runes[i-1]) && unicode.IsDigit(runes[i+1])):
			// Commas and colons split words, except inside numbers ("1,000", "3:30").
			flush()
			out = append(out, string(r))
		default:
			word = append(word, r)
		}
	}
	flush()
	return out
}

// splitWord handles what is left of a chunk once brackets and separators are gone: leading and
// trailing quotes, hyphens and periods, then contractions.
func splitWord(w string) []string {
	var pre, post []string
	// Leading quotes and hyphens, unless the quote starts a contraction token on its own ("'s").
	for len(w) > 0 && (w[0] == '\'' || w[0] == '-') && !isContraction(w) {
		pre = append(pre, w[:1])
		w = w[1:]
	}
	// Trailing period (sentence end): split off unless the word is an abbreviation with inner
	// periods ("u.s.", "a.m.") or a number like "3.".
	for len(w) > 0 {
		last := w[len(w)-1]
		if last == '\'' || last == '-' {
			post = append([]string{w[len(w)-1:]}, post...)
			w = w[:len(w)-1]
			continue
		}
		if last == '.' && !strings.Contains(w[:len(w)-1], ".") {
			post = append([]string{"."}, post...)
			w = w[:len(w)-1]
			continue
		}
		break
	}
	tokens := append(pre, splitContraction(w)...)
	return append(tokens, post...)
}

// isContraction reports whether w is exactly one of the contraction suffixes.
func isContraction(w string) bool {
	for _, s := range contractionSuffixes {
		if w == s {
			return true
		}
	}
	return false
}

// splitContraction splits "cannot" and English contraction suffixes off a word.
func splitContraction(w string) []string {
	if w == "" {
		return nil
	}
	if w == "cannot" {
		return []string{"can", "not"}
	}
	for _, s := range contractionSuffixes {
		if len(w) > len(s) && strings.HasSuffix(w, s) {
			return []string{w[:len(w)-len(s)], s}
		}
	}
	return []string{w}
}
