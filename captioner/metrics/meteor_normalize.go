package metrics

import (
	"regexp"
	"strings"
)

// METEOR's "-norm" option (edu.cmu.meteor.util.Normalizer, English, punctuation kept): a
// Moses-style tokenizer with METEOR's additions, applied to each caption before it is
// lower-cased and split on whitespace. The rules below are those of METEOR 1.5, in its order;
// the character classes are its "alpha" (Latin, Latin-1, Cyrillic ranges) and "alnum" lists.
// Java's \p{Digit} and \p{Lower} are the ASCII classes [0-9] and [a-z]; Java's \s is
// [ \t\n\v\f\r].
const (
	meteorAlpha = `A-Za-zŠŽšžŸÀ-ÖØ-öø-žЀ-ӿԀ-ԧꙀ-ꙮ꙾-ꚗᴀ-ᵿ`
	meteorAlnum = `0-9` + meteorAlpha
)

// normRule is one regular-expression replacement of the normalizer.
type normRule struct {
	re   *regexp.Regexp
	repl string
}

func (r normRule) apply(s string) string { return r.re.ReplaceAllString(s, r.repl) }

var (
	normSepOther  = normRule{regexp.MustCompile("([^" + meteorAlnum + " \\t\\n\\v\\f\\r.'`,\\-‘’])"), " ${1} "}
	normMultiDot  = normRule{regexp.MustCompile(`\.([.]+)`), " DOTMULTI${1}"}
	normMultiDot2 = normRule{regexp.MustCompile(`DOTMULTI\.([^.])`), "DOTDOTMULTI ${1}"}
	normCommas    = []normRule{
		{regexp.MustCompile(`([^0-9])[,]([^0-9])`), "${1} , ${2}"},
		{regexp.MustCompile(`([0-9])[,]([^0-9])`), "${1} , ${2}"},
		{regexp.MustCompile(`([^0-9])[,]([0-9])`), "${1} , ${2}"},
	}
	normQuotes = []normRule{
		{regexp.MustCompile("([`‘’])"), "'"},
		{regexp.MustCompile(`([“”]|'')`), ` " `},
	}
	normRmDash     = normRule{regexp.MustCompile(`([` + meteorAlnum + `.])[\-]([` + meteorAlnum + `])`), "${1} ${2}"}
	normApostrophe = []normRule{ // English splits contractions to the right: "n't" → "n 't", "'s" → "' s"
		{regexp.MustCompile(`([^` + meteorAlpha + `])[']([^` + meteorAlpha + `])`), "${1} ' ${2}"},
		{regexp.MustCompile(`([^` + meteorAlpha + `0-9])[']([` + meteorAlpha + `])`), "${1} ' ${2}"},
		{regexp.MustCompile(`([` + meteorAlpha + `])[']([^` + meteorAlpha + `])`), "${1} ' ${2}"},
		{regexp.MustCompile(`([` + meteorAlpha + `])[']([` + meteorAlpha + `])`), "${1} '${2}"},
		{regexp.MustCompile(`([0-9])[']([s])`), "${1} '${2}"},
	}
	normAlpha = regexp.MustCompile(`[` + meteorAlpha + `]`)
	normWhite = normRule{regexp.MustCompile("[ \u2000-\u200a\u202f\u205f\u3000\u00a0]+"), " "}
)

// nonbreaking prefix kinds of english.prefixes: a word before which a final dot stays attached.
const (
	prefixAny        = 1 // always
	prefixNumberOnly = 2 // only when the next word starts with a digit ("No. 5")
)

// parsePrefixes reads a nonbreaking-prefix list: one prefix per line, "#NUMERIC_ONLY#" after
// it for number-only prefixes, "#" comments and blank lines skipped.
func parsePrefixes(data string) map[string]int {
	prefixes := map[string]int{}
	for _, line := range splitLines(data) {
		f := javaTokens(line)
		if len(f) == 0 || strings.HasPrefix(f[0], "#") {
			continue
		}
		kind := prefixAny
		if len(f) > 1 && f[1] == "#NUMERIC_ONLY#" {
			kind = prefixNumberOnly
		}
		prefixes[f[0]] = kind
	}
	return prefixes
}

// normalizeTokens applies METEOR's -norm rules to a caption, lower-cases it and splits it into
// words as METEOR does.
func normalizeTokens(line string, prefixes map[string]int) []string {
	if plainLowercase(line) {
		return javaTokens(line) // no rule changes a caption of [a-z0-9 ] alone
	}
	return javaTokens(javaLower(normalizeLine(line, prefixes)))
}

// javaLower is Java's String.toLowerCase for these captions: strings.ToLower, except that "İ"
// becomes "i̇" (i and a combining dot) as in Java. (Java's final-sigma rule is not followed: a
// capital sigma becomes σ; captions from text.Tokenize are already lower-cased.)
func javaLower(s string) string {
	return strings.ToLower(strings.ReplaceAll(s, "İ", "i\u0307"))
}

// plainLowercase reports whether s has only ASCII lower-case letters, digits and spaces.
func plainLowercase(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == ' ') {
			return false
		}
	}
	return true
}

// normalizeLine is Normalizer.normalizeLine for English with punctuation kept.
func normalizeLine(line string, prefixes map[string]int) string {
	s := normSepOther.apply(" " + line + " ")
	s = escapeMultiDots(s)
	for _, r := range normCommas {
		s = r.apply(s)
	}
	for _, r := range normQuotes {
		s = r.apply(s)
	}
	s = strings.ReplaceAll(s, "–", "-")
	s = strings.ReplaceAll(s, "--", "-")
	s = normRmDash.apply(s)
	for _, r := range normApostrophe {
		s = r.apply(s)
	}
	s = splitFinalDots(javaTokens(s), prefixes)
	for strings.Contains(s, "DOTDOTMULTI") {
		s = strings.ReplaceAll(s, "DOTDOTMULTI", "DOTMULTI.")
	}
	s = strings.ReplaceAll(s, "DOTMULTI", ".")
	return javaTrim(normWhite.apply(s))
}

// escapeMultiDots hides runs of dots ("...") from the dot rules as DOTMULTI markers.
func escapeMultiDots(s string) string {
	s = normMultiDot.apply(s)
	for strings.Contains(s, "DOTMULTI.") {
		s = normMultiDot2.apply(s)
		s = strings.ReplaceAll(s, "DOTMULTI.", "DOTDOTMULTI")
	}
	return s
}

// splitFinalDots rebuilds the line from its words, splitting a word's final dot off unless the
// word is a nonbreaking prefix, is followed by a lower-case word (or, for number-only prefixes,
// by a number), or is dotted inside too ("U.S." loses its dots: "US").
func splitFinalDots(words []string, prefixes map[string]int) string {
	var sb strings.Builder
	for i, w := range words {
		next := ""
		if i+1 < len(words) {
			next = words[i+1]
		}
		pre, dotted := strings.CutSuffix(w, ".")
		kind := prefixes[pre]
		switch {
		case !dotted || len(w) <= 1:
			sb.WriteString(w)
		case strings.Contains(pre, ".") && normAlpha.MatchString(pre):
			sb.WriteString(strings.ReplaceAll(w, ".", ""))
		case kind == prefixAny || next != "" && next[0] >= 'a' && next[0] <= 'z':
			sb.WriteString(w)
		case kind == prefixNumberOnly && next != "" && next[0] >= '0' && next[0] <= '9':
			sb.WriteString(w)
		default:
			sb.WriteString(pre + " .")
		}
		sb.WriteByte(' ')
	}
	return sb.String()
}

// javaTokens splits s as java.util.StringTokenizer does: on space, tab, newline, carriage
// return and form feed only.
func javaTokens(s string) []string {
	return strings.FieldsFunc(s, func(r rune) bool {
		return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\f'
	})
}

// javaTrim is Java's String.trim: it drops characters up to U+0020 from both ends.
func javaTrim(s string) string {
	return strings.TrimFunc(s, func(r rune) bool { return r <= ' ' })
}

// splitLines splits a text file into lines as Java's readLine does (\n, \r\n or \r).
func splitLines(data string) []string {
	data = strings.ReplaceAll(data, "\r\n", "\n")
	data = strings.ReplaceAll(data, "\r", "\n")
	lines := strings.Split(data, "\n")
	if len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	return lines
}
