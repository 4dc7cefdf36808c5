// Package metrics scores generated captions against reference captions exactly as the
// coco-caption toolkit (pycocoevalcap) does: corpus BLEU-1..4 with the "closest" reference
// length, ROUGE-L (β = 1.2) and CIDEr-D (σ = 6, document frequencies over the evaluated
// images). All sums are in float64, in the toolkit's order of operations.
//
// Captions are given as token lists; use text.Tokenize (coco-caption's PTB tokenizer rules) to
// make them, so that training and evaluation agree on what a word is.
//
// METEOR 1.5 is computed by Meteor (LoadMeteor), equal to the Java METEOR that coco-caption
// runs; its data files are fetched on first use. Without METEOR's paraphrase table the score
// is named METEOR_noparaphrase, never METEOR. SPICE is not implemented.
package metrics

import (
	"fmt"
	"math"
	"strings"
)

// Example is one image's generated caption and its reference captions, tokenized.
type Example struct {
	Candidate  []string
	References [][]string
}

// Scores are the corpus-level scores under coco-caption's names. At most one of Meteor and
// MeteorNoParaphrase is set, when METEOR was computed.
type Scores struct {
	Bleu1  float64 `json:"Bleu_1"`
	Bleu2  float64 `json:"Bleu_2"`
	Bleu3  float64 `json:"Bleu_3"`
	Bleu4  float64 `json:"Bleu_4"`
	RougeL float64 `json:"ROUGE_L"`
	CIDEr  float64 `json:"CIDEr"`
	// Meteor is METEOR 1.5 with all four modules, as coco-caption and papers report it.
	Meteor *float64 `json:"METEOR,omitempty"`
	// MeteorNoParaphrase is METEOR 1.5 without its paraphrase module (exact, stem, synonym):
	// lower than METEOR, not to be compared with papers' METEOR.
	MeteorNoParaphrase *float64 `json:"METEOR_noparaphrase,omitempty"`
}

// MeteorScore returns the METEOR score that was computed and its name (MeteorName or
// MeteorNoParaphraseName); ok is false when there is none.
func (s Scores) MeteorScore() (name string, value float64, ok bool) {
	switch {
	case s.Meteor != nil:
		return MeteorName, *s.Meteor, true
	case s.MeteorNoParaphrase != nil:
		return MeteorNoParaphraseName, *s.MeteorNoParaphrase, true
	}
	return "", 0, false
}

// setMeteor records a METEOR result under its name.
func (s *Scores) setMeteor(r MeteorResult) {
	v := r.Score
	s.Meteor, s.MeteorNoParaphrase = nil, nil
	if r.Name == MeteorName {
		s.Meteor = &v
	} else {
		s.MeteorNoParaphrase = &v
	}
}

// Evaluate computes BLEU-1..4, ROUGE-L and CIDEr-D over a corpus. It is an error for an
// example to have no reference.
func Evaluate(examples []Example) (Scores, error) {
	return EvaluateWith(examples, nil)
}

// EvaluateWith is Evaluate plus METEOR when meteor is not nil (Scores.Meteor, or
// Scores.MeteorNoParaphrase when meteor has no paraphrase table).
func EvaluateWith(examples []Example, meteor *Meteor) (Scores, error) {
	for i, e := range examples {
		if len(e.References) == 0 {
			return Scores{}, fmt.Errorf("metrics: example %d has no reference caption", i)
		}
	}
	bleu := Bleu(examples)
	s := Scores{Bleu1: bleu[0], Bleu2: bleu[1], Bleu3: bleu[2], Bleu4: bleu[3], RougeL: RougeL(examples), CIDEr: CIDErD(examples)}
	if meteor != nil {
		r, err := meteor.Score(examples)
		if err != nil {
			return Scores{}, err
		}
		s.setMeteor(r)
	}
	return s, nil
}

// ngramCounts counts the n-grams of tokens for n = 1..maxN, keyed by the words joined with a
// space (which cannot occur inside a token).
func ngramCounts(tokens []string, maxN int) map[string]int {
	counts := map[string]int{}
	for n := 1; n <= maxN; n++ {
		for i := 0; i+n <= len(tokens); i++ {
			counts[strings.Join(tokens[i:i+n], " ")]++
		}
	}
	return counts
}

// ngramOrder is the n of an n-gram key.
func ngramOrder(key string) int { return strings.Count(key, " ") + 1 }

// Bleu returns corpus BLEU-1..4 as coco-caption's BleuScorer computes it (option "closest"):
// clipped n-gram matches summed over the corpus, guesses max(0, len−n+1), the reference length
// of each candidate the closest one (ties → shorter), and
//
//	BLEU_n = (Π_{k≤n} (Σ correct_k + 1e-15)/(Σ guess_k + 1e-9))^(1/n) · BP,
//	BP = exp(1 − 1/ratio) if ratio = (Σ len_c + 1e-15)/(Σ len_r + 1e-9) < 1, else 1.
func Bleu(examples []Example) [4]float64 {
	const maxN, tiny, small = 4, 1e-15, 1e-9
	var correct, guess [maxN]float64
	var testLen, refLen float64
	for _, e := range examples {
		maxRef := map[string]int{}
		for _, ref := range e.References {
			for k, c := range ngramCounts(ref, maxN) {
				maxRef[k] = max(maxRef[k], c)
			}
		}
		n := len(e.Candidate)
		best := -1
		for _, ref := range e.References { // closest reference length, ties → shorter
			l := len(ref)
			if best < 0 || abs(l-n) < abs(best-n) || (abs(l-n) == abs(best-n) && l < best) {
				best = l
			}
		}
		testLen += float64(n)
		refLen += float64(best)
		for k, c := range ngramCounts(e.Candidate, maxN) {
			correct[ngramOrder(k)-1] += float64(min(c, maxRef[k]))
		}
		for k := 1; k <= maxN; k++ {
			guess[k-1] += float64(max(0, n-k+1))
		}
	}
	var out [maxN]float64
	product := 1.0
	for k := 0; k < maxN; k++ {
		product *= (correct[k] + tiny) / (guess[k] + small)
		out[k] = math.Pow(product, 1/float64(k+1))
	}
	if ratio := (testLen + tiny) / (refLen + small); ratio < 1 {
		for k := range out {
			out[k] *= math.Exp(1 - 1/ratio)
		}
	}
	return out
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}

// lcs is the length of the longest common subsequence of two token lists.
func lcs(a, b []string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			if a[i-1] == b[j-1] {
				cur[j] = prev[j-1] + 1
			} else {
				cur[j] = max(prev[j], cur[j-1])
			}
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// splitLen is the token count coco-caption sees: it splits the joined caption on single
// spaces, so an empty caption still counts as one (empty) token.
func splitLen(tokens []string) int { return max(1, len(tokens)) }

// RougeL returns the mean over images of ROUGE-L as coco-caption computes it:
// P = max over references of LCS/|candidate|, R = max over references of LCS/|reference|
// (each maximised separately), F = (1+β²)·P·R/(R+β²·P) with β = 1.2, and 0 when P or R is 0.
func RougeL(examples []Example) float64 {
	const beta = 1.2
	if len(examples) == 0 {
		return 0
	}
	var sum float64
	for _, e := range examples {
		var p, r float64
		for _, ref := range e.References {
			l := float64(lcs(ref, e.Candidate))
			p = math.Max(p, l/float64(splitLen(e.Candidate)))
			r = math.Max(r, l/float64(splitLen(ref)))
		}
		if p != 0 && r != 0 {
			sum += (1 + beta*beta) * p * r / (r + beta*beta*p)
		}
	}
	return sum / float64(len(examples))
}

// CIDErD returns the mean over images of CIDEr-D as coco-caption computes it: document
// frequency df of an n-gram = number of images whose references contain it (over the evaluated
// set only); vectors tf·(ln N − ln max(1, df)); per n, Σ min(v_c, v_r)·v_r /(‖v_c‖·‖v_r‖) times
// exp(−δ²/(2·6²)) with δ the difference of bigram counts; averaged over n = 1..4, over the
// references, times 10. It is CIDErDScorer (cider_cached.go, where the formula and its sources
// are) with the document frequencies of the evaluated images' references and no end token.
func CIDErD(examples []Example) float64 {
	if len(examples) == 0 {
		return 0
	}
	refs := make([][][]string, len(examples))
	for i, e := range examples {
		refs[i] = e.References
	}
	s := NewCIDErDScorer(refs, CIDErDOptions{})
	sc := new(ciderScratch)
	var total float64
	for _, e := range examples {
		total += s.score(s.prepare(e.References, sc), e.Candidate, true, sc)
	}
	return total / float64(len(examples))
}

// CIDErMinImages is the number of evaluated images below which CIDErWarning warns. CIDEr-D
// weighs an n-gram by ln(N/df), its document frequency df counted over the references of the
// N evaluated images only. A word found in 10% of the images has df ≈ 0.1·N ± √(0.09·N): at
// N = 50, 5 ± 2.1, so its weight ln(N/df) ≈ 2.3 moves by about 20% from one draw of 50 images
// to another, and by more with fewer images; n-grams in every image weigh 0, and with a single
// image every weight is ln 1 = 0.
const CIDErMinImages = 50

// CIDErWarning says why a CIDEr-D over nImages images is not to be trusted when nImages is
// below CIDErMinImages; "" otherwise (and for no image).
func CIDErWarning(nImages int) string {
	switch {
	case nImages <= 0 || nImages >= CIDErMinImages:
		return ""
	case nImages == 1:
		return "CIDEr-D of a single image is 0 by construction: its n-gram weights ln(N/df) are ln(1/1) = 0; " +
			fmt.Sprintf("score at least %d images", CIDErMinImages)
	}
	return fmt.Sprintf("CIDEr-D over %d images is unstable: its n-gram weights come from the evaluated images' "+
		"references, and below %d images they swing with the choice of images (by 20%% or more); compare CIDEr "+
		"only over the same, larger set of images, such as a whole test split", nImages, CIDErMinImages)
}
