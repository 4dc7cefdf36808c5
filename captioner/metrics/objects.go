package metrics

// Object accuracy: does a caption of a synthetic shapes image name exactly the objects in it?
//
// BLEU, ROUGE-L, METEOR and CIDEr count n-grams shared with the references. A shapes image has
// five references and one of them is generic ("there are three shapes on a noisy background
// including a small purple circle"): it names one object of three, and it shares most of its
// n-grams with the generic reference of every other three-object image. A caption that copies it
// scores high on all four metrics while leaving out two of the three objects, and a caption that
// names the wrong colour loses a single unigram among many. Object accuracy checks the
// caption's meaning against the generator's ground truth (datasets.ShapesObjectsFile) instead.

import (
	"fmt"
	"io"
	"path/filepath"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/datasets/text"
)

// ObjectCaption is one generated caption and the image it describes.
type ObjectCaption struct {
	Image   string // the image's file name; a path is reduced to its base name
	Caption string
}

// ObjectScores summarise ObjectAccuracy over a set of captions.
//
// A caption is correct when the objects it names, each a colour and a shape, are exactly the
// image's objects as a multiset (nothing missing, nothing extra, nothing named twice); when it
// also states an object's size ("small", "large"), that size must be right; and when it states
// how many shapes there are ("three shapes"), the number must be right. Positions and relations
// do not enter object accuracy: they are scored separately, over the captions that state them.
type ObjectScores struct {
	File     string  `json:"file,omitempty"` // the ground-truth file
	Images   int     `json:"images"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
	// ByCount is object accuracy per number of objects in the image, fewest first.
	ByCount []ObjectCount `json:"by_count"`
	// Spatial counts the captions that state at least one spatial claim — a relation between
	// two objects ("a red circle to the left of a blue square"), an order ("from left to right:
	// …") or a position ("a red circle at the top left") — and those whose claims are all right.
	Spatial SpatialCount `json:"spatial"`
	// SpatialByKind is the same count per kind of claim ("relation", "order", "position"), for
	// the kinds that some caption states.
	SpatialByKind []SpatialCount `json:"spatial_by_kind"`
}

// ObjectCount is object accuracy over the images with a given number of objects.
type ObjectCount struct {
	Objects  int     `json:"objects"`
	Images   int     `json:"images"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"`
}

// SpatialCount is the number of captions stating a spatial claim (of one kind, or of any when
// Kind is ""), and of those whose claims are all right.
type SpatialCount struct {
	Kind     string  `json:"kind,omitempty"`
	Captions int     `json:"captions"`
	Correct  int     `json:"correct"`
	Accuracy float64 `json:"accuracy"` // Correct/Captions; 0 when no caption states one
}

// ObjectJudgement is the verdict on one caption, with the reasons.
type ObjectJudgement struct {
	Image   string `json:"image"`
	Caption string `json:"caption"`
	Objects int    `json:"objects"` // the number of objects in the image
	Correct bool   `json:"correct"`
	// Missing are the image's objects the caption does not name ("small red circle").
	Missing []string `json:"missing,omitempty"`
	// Extra are the objects the caption names that the image does not have (as named: "red
	// circle", or "circle" when no colour was given).
	Extra []string `json:"extra,omitempty"`
	// WrongSize are objects named with the wrong size ("large red circle (it is small)").
	WrongSize []string `json:"wrong_size,omitempty"`
	// StatedCount is the number of shapes the caption says there are ("three shapes"), 0 when
	// it says none.
	StatedCount int `json:"stated_count,omitempty"`
	// Claims are the spatial claims the caption makes, each judged.
	Claims []SpatialClaim `json:"claims,omitempty"`
}

// SpatialClaim is one spatial statement of a caption.
type SpatialClaim struct {
	Kind    string `json:"kind"`    // "relation", "order" or "position"
	Claim   string `json:"claim"`   // what the caption says, on the objects it names: "red circle above blue square"
	Correct bool   `json:"correct"` // whether the ground truth agrees
	Truth   string `json:"truth"`   // what the generator would say of those objects, or why the claim cannot hold
}

// ObjectAccuracy judges each caption against its image's objects in truth (see ObjectScores
// for the rules, and ObjectJudgement for each verdict). A relation is right when it is the one
// the generator states for those two objects (datasets.ShapeRelation: the axis of the larger
// offset between their centres); a position when it names the ninth of the image the object's
// centre falls in (datasets.ShapePosition); an order when the objects' centres are strictly in
// that order. A claim about an object the image does not have is wrong. An image that truth does
// not list is an error (the ground truth is not that of the evaluated dataset).
func ObjectAccuracy(truth *datasets.ShapesObjects, captions []ObjectCaption) (ObjectScores, []ObjectJudgement, error) {
	file := truth.Path()
	if file == "" {
		file = datasets.ShapesObjectsFile
	}
	if len(captions) == 0 {
		return ObjectScores{}, nil, fmt.Errorf("object accuracy: no captions to judge")
	}
	words := NewObjectWords(truth)
	scores := ObjectScores{File: truth.Path()}
	judged := make([]ObjectJudgement, 0, len(captions))
	byCount := map[int]*ObjectCount{}
	spatialByKind := map[string]*SpatialCount{}
	for _, c := range captions {
		name := filepath.Base(c.Image)
		img, ok := truth.Image(name)
		if !ok {
			return ObjectScores{}, nil, fmt.Errorf("object accuracy: %s lists no image %s; is it the ground truth of the evaluated dataset?", file, name)
		}
		j := JudgeObjects(words, c.Caption, img)
		judged = append(judged, j)
		scores.Images++
		n := byCount[j.Objects]
		if n == nil {
			n = &ObjectCount{Objects: j.Objects}
			byCount[j.Objects] = n
		}
		n.Images++
		if j.Correct {
			scores.Correct++
			n.Correct++
		}
		if len(j.Claims) > 0 {
			scores.Spatial.Captions++
			kinds := map[string]bool{} // kind → all its claims right
			for _, cl := range j.Claims {
				if ok, seen := kinds[cl.Kind]; !seen || ok {
					kinds[cl.Kind] = cl.Correct
				}
			}
			all := true
			for kind, ok := range kinds {
				s := spatialByKind[kind]
				if s == nil {
					s = &SpatialCount{Kind: kind}
					spatialByKind[kind] = s
				}
				s.Captions++
				if ok {
					s.Correct++
				}
				all = all && ok
			}
			if all {
				scores.Spatial.Correct++
			}
		}
	}
	scores.Accuracy = ratio(scores.Correct, scores.Images)
	for _, n := range byCount {
		n.Accuracy = ratio(n.Correct, n.Images)
		scores.ByCount = append(scores.ByCount, *n)
	}
	sort.Slice(scores.ByCount, func(a, b int) bool { return scores.ByCount[a].Objects < scores.ByCount[b].Objects })
	scores.Spatial.Accuracy = ratio(scores.Spatial.Correct, scores.Spatial.Captions)
	for _, kind := range []string{"relation", "order", "position"} {
		if s := spatialByKind[kind]; s != nil {
			s.Accuracy = ratio(s.Correct, s.Captions)
			scores.SpatialByKind = append(scores.SpatialByKind, *s)
		}
	}
	return scores, judged, nil
}

// ObjectAccuracyCOCO judges a COCO results file's captions: each result's image is found by
// its file_name in the annotations (its base name must be in truth).
func ObjectAccuracyCOCO(truth *datasets.ShapesObjects, ann *COCOAnnotations, results []COCOResult) (ObjectScores, []ObjectJudgement, error) {
	names := map[COCOID]string{}
	for _, img := range ann.Images {
		names[img.ID] = img.FileName
	}
	captions := make([]ObjectCaption, 0, len(results))
	for _, r := range results {
		name, ok := names[r.ImageID]
		switch {
		case !ok:
			return ObjectScores{}, nil, fmt.Errorf("object accuracy: the results caption image %s, which the annotations do not list", r.ImageID)
		case name == "":
			return ObjectScores{}, nil, fmt.Errorf("object accuracy: image %s has no file_name in the annotations, and the ground truth lists images by file name", r.ImageID)
		}
		captions = append(captions, ObjectCaption{Image: name, Caption: r.Caption})
	}
	return ObjectAccuracy(truth, captions)
}

func ratio(a, b int) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

// Rows is the scores as a table (a header row, then one row per line), for printing or for a
// notebook's Markdown table.
func (s ObjectScores) Rows() [][]string {
	f := func(v float64) string { return fmt.Sprintf("%.4f", v) }
	rows := [][]string{{"object accuracy", "images", "correct", "accuracy"},
		{"all images", fmt.Sprint(s.Images), fmt.Sprint(s.Correct), f(s.Accuracy)}}
	for _, n := range s.ByCount {
		noun := "objects"
		if n.Objects == 1 {
			noun = "object"
		}
		rows = append(rows, []string{fmt.Sprintf("%d %s", n.Objects, noun), fmt.Sprint(n.Images), fmt.Sprint(n.Correct), f(n.Accuracy)})
	}
	rows = append(rows, []string{"spatial claims (captions)", fmt.Sprint(s.Spatial.Captions), fmt.Sprint(s.Spatial.Correct), f(s.Spatial.Accuracy)})
	for _, k := range s.SpatialByKind {
		rows = append(rows, []string{"  " + k.Kind, fmt.Sprint(k.Captions), fmt.Sprint(k.Correct), f(k.Accuracy)})
	}
	return rows
}

// WriteTable prints Rows as aligned columns.
func (s ObjectScores) WriteTable(w io.Writer) error {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	for _, r := range s.Rows() {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	return tw.Flush()
}

// ScoreReport is the scores with the object accuracy when it was computed: what
// scripts/evaluate -json and training's test_metrics.json hold.
type ScoreReport struct {
	Scores
	Objects *ObjectScores `json:"objects,omitempty"`
}

// ObjectWords are the words a caption names objects with: the colours, shapes (singular and
// plural) and sizes of a ground truth (NewObjectWords).
type ObjectWords struct {
	color, size map[string]bool
	shape       map[string]string // singular or plural → singular
	plural      map[string]bool
}

// NewObjectWords returns the words of truth's synthetic world.
func NewObjectWords(truth *datasets.ShapesObjects) *ObjectWords {
	w := &ObjectWords{color: map[string]bool{}, size: map[string]bool{}, shape: map[string]string{}, plural: map[string]bool{}}
	for _, c := range truth.Colors {
		w.color[strings.ToLower(c)] = true
	}
	for _, s := range truth.Sizes {
		w.size[strings.ToLower(s)] = true
	}
	for _, s := range truth.Shapes {
		s = strings.ToLower(s)
		p := s + "s"
		if strings.HasSuffix(s, "s") || strings.HasSuffix(s, "x") || strings.HasSuffix(s, "ch") || strings.HasSuffix(s, "sh") {
			p = s + "es"
		}
		w.shape[s], w.shape[p], w.plural[p] = s, s, true
	}
	return w
}

// numberWords are the words that say how many: a count before an object ("two red circles"),
// or of all the shapes ("three shapes").
var numberWords = map[string]int{"a": 1, "an": 1, "the": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5,
	"six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}

// mention is an object named in a caption: tokens [start, end).
type mention struct {
	start, end         int
	shape, color, size string
	count              int
}

func (m mention) words() string {
	return strings.Join(strings.Fields(m.size+" "+m.color+" "+m.shape), " ")
}

// findMentions finds the objects a tokenized caption names: a shape word with up to two of a
// colour and a size before it ("small red circle"), or with them after it ("circle that is
// red"), after an optional number ("a", "the", "two", …; a plural without one counts two).
func (w *ObjectWords) findMentions(tok []string) []mention {
	var ms []mention
	for i, t := range tok {
		shape, ok := w.shape[t]
		if !ok {
			continue
		}
		m := mention{end: i + 1, shape: shape, count: 1}
		if w.plural[t] {
			m.count = 2
		}
		j := i - 1
		for ; j >= 0 && i-j <= 2; j-- {
			if w.color[tok[j]] && m.color == "" {
				m.color = tok[j]
			} else if w.size[tok[j]] && m.size == "" {
				m.size = tok[j]
			} else {
				break
			}
		}
		m.start = j + 1
		if j >= 0 { // a number directly before the modifiers or the shape
			if n, ok := numberWords[tok[j]]; ok {
				m.start = j
				if n > 1 || !w.plural[t] {
					m.count = n
				}
			}
		}
		if i+2 < len(tok) && (tok[i+1] == "that" || tok[i+1] == "which") && (tok[i+2] == "is" || tok[i+2] == "are") {
			k := i + 3
			found := false
			for ; k < len(tok) && k < i+6; k++ {
				if w.color[tok[k]] && m.color == "" {
					m.color = tok[k]
				} else if w.size[tok[k]] && m.size == "" {
					m.size = tok[k]
				} else if tok[k] != "and" {
					break
				}
				found = true
			}
			if found {
				m.end = k
			}
		}
		ms = append(ms, m)
	}
	return ms
}

// statedCounts finds "N shapes" / "N objects" (N a number word other than a, an, the).
func statedCounts(tok []string) []int {
	var counts []int
	for i := 0; i+1 < len(tok); i++ {
		n, ok := numberWords[tok[i]]
		if !ok || tok[i] == "a" || tok[i] == "an" || tok[i] == "the" {
			continue
		}
		switch tok[i+1] {
		case "shape", "shapes", "object", "objects":
			counts = append(counts, n)
		}
	}
	return counts
}

// spatialPattern is a phrase that makes a spatial claim.
type spatialPattern struct {
	words []string // "*" matches any of alts
	kind  string
	say   string // the canonical claim: a relation as datasets.ShapeRelation says it, "x+" … for orders
}

var spatialPatterns = []spatialPattern{
	{strings.Fields("to the left of"), "relation", "to the left of"},
	{strings.Fields("to the right of"), "relation", "to the right of"},
	{strings.Fields("on the left of"), "relation", "to the left of"},
	{strings.Fields("on the right of"), "relation", "to the right of"},
	{strings.Fields("from left to right"), "order", "x+"},
	{strings.Fields("from right to left"), "order", "x-"},
	{strings.Fields("from top to bottom"), "order", "y+"},
	{strings.Fields("from bottom to top"), "order", "y-"},
	{strings.Fields("left to right"), "order", "x+"},
	{strings.Fields("right to left"), "order", "x-"},
	{strings.Fields("top to bottom"), "order", "y+"},
	{strings.Fields("bottom to top"), "order", "y-"},
	{strings.Fields("left of"), "relation", "to the left of"},
	{strings.Fields("right of"), "relation", "to the right of"},
	{strings.Fields("above"), "relation", "above"},
	{strings.Fields("below"), "relation", "below"},
	{strings.Fields("under"), "relation", "below"},
	{strings.Fields("beneath"), "relation", "below"},
	{strings.Fields("at the top left"), "position", "at the top left"},
	{strings.Fields("at the top right"), "position", "at the top right"},
	{strings.Fields("at the bottom left"), "position", "at the bottom left"},
	{strings.Fields("at the bottom right"), "position", "at the bottom right"},
	{strings.Fields("in the top left"), "position", "at the top left"},
	{strings.Fields("in the top right"), "position", "at the top right"},
	{strings.Fields("in the bottom left"), "position", "at the bottom left"},
	{strings.Fields("in the bottom right"), "position", "at the bottom right"},
	{strings.Fields("at the top"), "position", "at the top"},
	{strings.Fields("at the bottom"), "position", "at the bottom"},
	{strings.Fields("in the center"), "position", "in the center"},
	{strings.Fields("in the centre"), "position", "in the center"},
	{strings.Fields("in the middle"), "position", "in the center"},
	{strings.Fields("on the left"), "position", "on the left"},
	{strings.Fields("on the right"), "position", "on the right"},
}

func matchAt(tok []string, i int, words []string) bool {
	if i+len(words) > len(tok) {
		return false
	}
	for k, w := range words {
		if tok[i+k] != w {
			return false
		}
	}
	return true
}

// JudgeObjects judges one caption against one image's objects (ObjectAccuracy's rules).
func JudgeObjects(w *ObjectWords, caption string, img datasets.ShapesImage) ObjectJudgement {
	tok := text.Tokenize(caption)
	j := ObjectJudgement{Image: img.FileName, Caption: caption, Objects: len(img.Objects)}
	ms := w.findMentions(tok)

	link := j.matchObjects(ms, img)
	j.judgeCount(tok, len(img.Objects))
	j.Claims = spatialClaims(tok, ms, link, img)
	return j
}

// matchObjects matches the named objects to the image's — exact (with the size) first, then by
// colour and shape, then sized ones whose size is wrong — recording extra, missing and
// wrongly sized objects in j. It returns, per mention, the object it names when it names one
// object that is there (-1 otherwise).
func (j *ObjectJudgement) matchObjects(ms []mention, img datasets.ShapesImage) (link []int) {
	type item struct{ m, gt int }
	var items []item
	for mi, m := range ms {
		for c := 0; c < m.count; c++ {
			items = append(items, item{mi, -1})
		}
	}
	used := make([]bool, len(img.Objects))
	link = make([]int, len(ms))
	for i := range link {
		link[i] = -1
	}
	match := func(it *item, sized, sameSize bool) {
		m := ms[it.m]
		if it.gt >= 0 || m.color == "" || (m.size != "") != sized {
			return
		}
		for g, o := range img.Objects {
			if !used[g] && o.Shape == m.shape && o.Color == m.color && (!sized || (o.Size == m.size) == sameSize) {
				used[g], it.gt = true, g
				if m.count == 1 {
					link[it.m] = g
				}
				if sized && !sameSize {
					j.WrongSize = append(j.WrongSize, fmt.Sprintf("%s (it is %s)", m.words(), o.Size))
				}
				return
			}
		}
	}
	for pass := 0; pass < 3; pass++ {
		for i := range items {
			match(&items[i], pass != 1, pass == 0)
		}
	}
	for _, it := range items {
		if it.gt < 0 {
			j.Extra = append(j.Extra, ms[it.m].words())
		}
	}
	for g, o := range img.Objects {
		if !used[g] {
			j.Missing = append(j.Missing, o.Name())
		}
	}
	return link
}

// judgeCount checks the counts the caption states against the image's number of objects and
// sets Correct: every object named, none extra, no wrong size, every stated count right.
func (j *ObjectJudgement) judgeCount(tok []string, objects int) {
	countOK := true
	for _, n := range statedCounts(tok) {
		if j.StatedCount == 0 {
			j.StatedCount = n
		}
		countOK = countOK && n == objects
	}
	j.Correct = len(j.Missing) == 0 && len(j.Extra) == 0 && len(j.WrongSize) == 0 && countOK
}

// mentionBefore is the mention ending right before token i ("is"/"are" may come between), or -1.
func mentionBefore(tok []string, ms []mention, i int) int {
	for mi, m := range ms {
		if m.end == i || (m.end == i-1 && (tok[i-1] == "is" || tok[i-1] == "are")) {
			return mi
		}
	}
	return -1
}

// mentionAt is the mention starting at token i, or -1.
func mentionAt(ms []mention, i int) int {
	for mi, m := range ms {
		if m.start == i {
			return mi
		}
	}
	return -1
}

// spatialClaims judges the caption's spatial claims (relations, positions, orders) about the
// mentions ms, linked to the image's objects by link.
func spatialClaims(tok []string, ms []mention, link []int, img datasets.ShapesImage) []SpatialClaim {
	var claims []SpatialClaim
	inMention := make([]bool, len(tok))
	for _, m := range ms {
		for k := m.start; k < m.end; k++ {
			inMention[k] = true
		}
	}
	before := func(i int) int { return mentionBefore(tok, ms, i) }
	after := func(i int) int { return mentionAt(ms, i) }
	for i := 0; i < len(tok); i++ {
		if inMention[i] {
			continue
		}
		var p *spatialPattern
		for k := range spatialPatterns {
			if matchAt(tok, i, spatialPatterns[k].words) {
				p = &spatialPatterns[k]
				break
			}
		}
		if p == nil {
			continue
		}
		end := i + len(p.words)
		switch p.kind {
		case "relation":
			a, b := before(i), after(end)
			if a < 0 || b < 0 {
				break // not a claim about two named objects
			}
			c := SpatialClaim{Kind: "relation", Claim: ms[a].words() + " " + p.say + " " + ms[b].words()}
			ga, gb := link[a], link[b]
			if ga < 0 || gb < 0 {
				c.Truth = "the image has no such pair of objects"
			} else {
				truth := datasets.ShapeRelation(img.Objects[ga], img.Objects[gb])
				c.Correct, c.Truth = truth == p.say, ms[a].words()+" "+truth+" "+ms[b].words()
			}
			claims = append(claims, c)
		case "position":
			a := before(i)
			if a < 0 || (end < len(tok) && tok[end] == "of") {
				break
			}
			c := SpatialClaim{Kind: "position", Claim: ms[a].words() + " " + p.say}
			if g := link[a]; g < 0 {
				c.Truth = "the image has no " + ms[a].words()
			} else {
				truth := datasets.ShapePosition(img.Objects[g], img.Width, img.Height)
				c.Correct, c.Truth = truth == p.say, ms[a].words()+" "+truth
			}
			claims = append(claims, c)
		case "order":
			var list []int
			for mi, m := range ms {
				if m.start >= end {
					list = append(list, mi)
				}
			}
			if len(list) < 2 {
				list = list[:0]
				for mi, m := range ms {
					if m.end <= i {
						list = append(list, mi)
					}
				}
			}
			if len(list) < 2 {
				break
			}
			claims = append(claims, judgeOrder(p, ms, list, link, img))
		}
		i = end - 1
	}
	return claims
}

// judgeOrder judges "from left to right: a, b and c" (and the other three directions).
func judgeOrder(p *spatialPattern, ms []mention, list, link []int, img datasets.ShapesImage) SpatialClaim {
	var names []string
	for _, mi := range list {
		names = append(names, ms[mi].words())
	}
	c := SpatialClaim{Kind: "order", Claim: strings.Join(p.words, " ") + ": " + strings.Join(names, ", ")}
	coord := func(g int) float64 {
		if p.say[0] == 'x' {
			return img.Objects[g].X
		}
		return img.Objects[g].Y
	}
	sign := 1.0
	if p.say[1] == '-' {
		sign = -1
	}
	var gs []int
	for _, mi := range list {
		if link[mi] < 0 {
			c.Truth = "the image has no " + ms[mi].words()
			return c
		}
		gs = append(gs, link[mi])
	}
	c.Correct = true
	for k := 1; k < len(gs); k++ {
		c.Correct = c.Correct && sign*(coord(gs[k])-coord(gs[k-1])) > 0
	}
	sorted := append([]int(nil), list...)
	sort.SliceStable(sorted, func(a, b int) bool { return sign*coord(link[sorted[a]]) < sign*coord(link[sorted[b]]) })
	names = names[:0]
	for _, mi := range sorted {
		names = append(names, ms[mi].words())
	}
	c.Truth = strings.Join(p.words, " ") + ": " + strings.Join(names, ", ")
	return c
}
