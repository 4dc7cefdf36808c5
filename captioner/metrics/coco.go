package metrics

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/datasets/text"
	"github.com/attncap/attncap/internal/atomicfile"
)

// COCOAnnotations is a COCO captions annotation file: images and their reference captions.
type COCOAnnotations = datasets.COCOCaptions

// COCOResult is one entry of a COCO results file: {"image_id", "caption"}.
type COCOResult = datasets.COCOResult

// COCOID is an image id of a COCO file, an integer or a string (see datasets.COCOID).
type COCOID = datasets.COCOID

// LoadCOCOAnnotations reads a COCO captions annotation file to score against; see
// ParseCOCOAnnotations.
func LoadCOCOAnnotations(path string) (*COCOAnnotations, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("annotations: %w", err)
	}
	return ParseCOCOAnnotations(path, data)
}

// ParseCOCOAnnotations reads a COCO captions annotation file held in data (name is the file's,
// for messages): its shape is checked by datasets.ParseCOCOCaptions (an instances file, an
// entry without "image_id" or "caption", mixed id types are errors), and every caption must
// name an image the file lists, as pycocoevalcap needs to score it.
func ParseCOCOAnnotations(name string, data []byte) (*COCOAnnotations, error) {
	ann, err := datasets.ParseCOCOCaptions(name, data)
	if err != nil {
		return nil, err
	}
	listed := make(map[COCOID]bool, len(ann.Images))
	for _, img := range ann.Images {
		listed[img.ID] = true
	}
	for i, a := range ann.Annotations {
		if !listed[a.ImageID] {
			return nil, fmt.Errorf(`%s: annotations[%d] (image_id %s) names an image that "images" does not list; list the image there or drop the caption`,
				name, i, a.ImageID)
		}
	}
	return ann, nil
}

// LoadCOCOResults reads a COCO results file; see ParseCOCOResults.
func LoadCOCOResults(path string) ([]COCOResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	return ParseCOCOResults(path, data)
}

// ParseCOCOResults reads a COCO results file held in data (name is the file's, for messages):
// a non-empty JSON list of {"image_id", "caption"}, checked by datasets.ParseCOCOResults. An
// empty caption is kept and scored, as pycocoevalcap scores it.
func ParseCOCOResults(name string, data []byte) ([]COCOResult, error) {
	return datasets.ParseCOCOResults(name, data)
}

// WriteCOCOResults writes results as a COCO results file.
func WriteCOCOResults(path string, results []COCOResult) error {
	return atomicfile.WriteJSON(path, results)
}

// EvaluateCOCOFiles scores a results file against an annotation file, as scripts/evaluate does,
// and returns the scores and the number of images scored. Every error names the file it is
// about.
func EvaluateCOCOFiles(annotations, results string) (Scores, int, error) {
	examples, err := LoadCOCOExamples(annotations, results)
	if err != nil {
		return Scores{}, 0, err
	}
	s, err := Evaluate(examples)
	return s, len(examples), err
}

// LoadCOCOExamples reads an annotation and a results file and pairs them (COCOExamples).
// Every error names the file it is about.
func LoadCOCOExamples(annotations, results string) ([]Example, error) {
	ann, err := LoadCOCOAnnotations(annotations)
	if err != nil {
		return nil, err
	}
	res, err := LoadCOCOResults(results)
	if err != nil {
		return nil, err
	}
	examples, err := COCOExamples(ann, res)
	if err != nil {
		return nil, fmt.Errorf("%s scored against %s: %w", results, annotations, err)
	}
	return examples, nil
}

// EvaluateCOCO scores results against annotations like coco-caption's COCOEvalCap (BLEU,
// ROUGE-L, CIDEr-D); see COCOExamples for how captions are paired.
func EvaluateCOCO(ann *COCOAnnotations, results []COCOResult) (Scores, error) {
	return EvaluateCOCOWith(ann, results, nil)
}

// EvaluateCOCOWith is EvaluateCOCO plus METEOR when meteor is not nil.
func EvaluateCOCOWith(ann *COCOAnnotations, results []COCOResult, meteor *Meteor) (Scores, error) {
	examples, err := COCOExamples(ann, results)
	if err != nil {
		return Scores{}, err
	}
	return EvaluateWith(examples, meteor)
}

// COCOExamples pairs each result with its image's references as coco-caption's COCOEvalCap
// does: captions are tokenized with text.Tokenize (its PTB tokenizer rules) and every image of
// the results is scored against all its references. Unlike COCOEvalCap, which silently scores
// whatever subset the results cover, every annotated image must have exactly one result:
// unknown image ids, duplicates and missing images are errors naming them (sorted, first
// five). Image ids must be of one kind, integers or strings, in both (an integer never matches
// a string, in pycocoevalcap either); scores do not depend on the kind.
func COCOExamples(ann *COCOAnnotations, results []COCOResult) ([]Example, error) {
	if err := checkIDKinds(ann, results); err != nil {
		return nil, err
	}
	refs := map[COCOID][][]string{}
	for _, img := range ann.Images {
		refs[img.ID] = nil
	}
	for _, a := range ann.Annotations {
		refs[a.ImageID] = append(refs[a.ImageID], text.Tokenize(a.Caption))
	}
	if err := checkCoverage(refs, results); err != nil {
		return nil, err
	}
	examples := make([]Example, 0, len(results))
	for _, r := range results {
		if len(refs[r.ImageID]) == 0 {
			return nil, fmt.Errorf("the results caption image %s, which has no reference caption in the annotations", r.ImageID)
		}
		examples = append(examples, Example{Candidate: text.Tokenize(r.Caption), References: refs[r.ImageID]})
	}
	return examples, nil
}

// checkCoverage requires one result per annotated image and none for other images.
func checkCoverage(refs map[COCOID][][]string, results []COCOResult) error {
	seen := map[COCOID]bool{}
	var unknown, dup, missing []COCOID
	for _, r := range results {
		if _, ok := refs[r.ImageID]; !ok {
			unknown = append(unknown, r.ImageID)
		} else if seen[r.ImageID] {
			dup = append(dup, r.ImageID)
		}
		seen[r.ImageID] = true
	}
	for id, rs := range refs {
		if !seen[id] && len(rs) > 0 {
			missing = append(missing, id)
		}
	}
	switch {
	case len(unknown) > 0:
		return fmt.Errorf("the results caption %s not in the annotations: %s", count(unknown, "image id"), ids(unknown))
	case len(dup) > 0:
		return fmt.Errorf("the results caption %s more than once: %s", count(dup, "image id"), ids(dup))
	case len(missing) > 0:
		return fmt.Errorf("the results have no caption for %s: %s", count(missing, "annotated image"), ids(missing))
	}
	return nil
}

// kindSample keeps the first integer and the first string id of a list, to tell its kind.
type kindSample struct{ integer, str COCOID }

func (k *kindSample) add(id COCOID) {
	switch {
	case id.IsString() && k.str.IsZero():
		k.str = id
	case !id.IsString() && !id.IsZero() && k.integer.IsZero():
		k.integer = id
	}
}

// describe names the kinds seen: "integers (first: 1)", or both kinds.
func (k kindSample) describe() string {
	var parts []string
	if !k.integer.IsZero() {
		parts = append(parts, fmt.Sprintf("integers (first: %s)", k.integer))
	}
	if !k.str.IsZero() {
		parts = append(parts, fmt.Sprintf("strings (first: %s)", k.str))
	}
	return strings.Join(parts, " and ")
}

// mixed reports ids of both kinds; same reports one kind, the same as o's.
func (k kindSample) mixed() bool            { return !k.integer.IsZero() && !k.str.IsZero() }
func (k kindSample) same(o kindSample) bool { return k.integer.IsZero() == o.integer.IsZero() }

// checkIDKinds requires the image ids of annotations and results to be all integers or all
// strings.
func checkIDKinds(ann *COCOAnnotations, results []COCOResult) error {
	var a, r kindSample
	for _, img := range ann.Images {
		a.add(img.ID)
	}
	for _, c := range ann.Annotations {
		a.add(c.ImageID)
	}
	for _, res := range results {
		r.add(res.ImageID)
	}
	const fix = "write every image id with one type (all integers or all strings)"
	switch {
	case a.mixed():
		return fmt.Errorf("the annotations' image ids mix %s; %s", a.describe(), fix)
	case r.mixed():
		return fmt.Errorf("the results' image ids mix %s; %s", r.describe(), fix)
	case a.describe() != "" && r.describe() != "" && !a.same(r):
		return fmt.Errorf("the results' image ids are %s but the annotations' are %s; %s in both files", r.describe(), a.describe(), fix)
	}
	return nil
}

// count writes "1 image id" or "3 image ids".
func count(list []COCOID, noun string) string {
	n := len(dedupe(list))
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// dedupe sorts ids and drops repeats.
func dedupe(list []COCOID) []COCOID {
	s := slices.Clone(list)
	slices.SortFunc(s, func(a, b COCOID) int {
		switch {
		case a.Less(b):
			return -1
		case b.Less(a):
			return 1
		}
		return 0
	})
	return slices.Compact(s)
}

// ids formats up to the first five distinct ids of a list, sorted, for an error message.
func ids(list []COCOID) string {
	var s []string
	for i, id := range dedupe(list) {
		if i == 5 {
			s = append(s, "…")
			break
		}
		s = append(s, id.String())
	}
	return strings.Join(s, ", ")
}
