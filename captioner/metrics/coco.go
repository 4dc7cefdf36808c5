package metrics

import (
	"encoding/json"
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/datasets/text"
)

// COCOAnnotations is a COCO captions annotation file: images and their reference captions.
type COCOAnnotations = datasets.COCOCaptions

// COCOResult is one entry of a COCO results file.
type COCOResult struct {
	ImageID int64  `json:"image_id"`
	Caption string `json:"caption"`
}

// LoadCOCOAnnotations reads a COCO captions annotation file.
func LoadCOCOAnnotations(path string) (*COCOAnnotations, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("annotations: %w", err)
	}
	a := &COCOAnnotations{}
	if err := json.Unmarshal(data, a); err != nil {
		return nil, fmt.Errorf("annotations %s: not a COCO captions annotation file: %w", path, err)
	}
	if len(a.Annotations) == 0 {
		return nil, fmt.Errorf("annotations %s: no \"annotations\" with captions", path)
	}
	return a, nil
}

// LoadCOCOResults reads a COCO results file: a JSON list of {"image_id", "caption"}.
func LoadCOCOResults(path string) ([]COCOResult, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("results: %w", err)
	}
	var r []COCOResult
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("results %s: not a COCO results file (a JSON list of {\"image_id\", \"caption\"}): %w", path, err)
	}
	return r, nil
}

// WriteCOCOResults writes results as a COCO results file.
func WriteCOCOResults(path string, results []COCOResult) error {
	data, err := json.MarshalIndent(results, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o644)
}

// ids formats up to the first five ids of a list for an error message.
func ids(list []int64) string {
	var s []string
	for i, id := range list {
		if i == 5 {
			s = append(s, "…")
			break
		}
		s = append(s, fmt.Sprint(id))
	}
	return strings.Join(s, ", ")
}

// EvaluateCOCO scores results against annotations like coco-caption's COCOEvalCap: captions
// are tokenized with text.Tokenize (its PTB tokenizer rules) and every image of the results is
// scored against all its references. Unlike COCOEvalCap, which silently scores whatever subset
// the results cover, every annotated image must have exactly one result: unknown image ids,
// duplicates and missing images are errors naming them.
func EvaluateCOCO(ann *COCOAnnotations, results []COCOResult) (Scores, error) {
	refs := map[int64][][]string{}
	for _, img := range ann.Images {
		refs[img.ID] = nil
	}
	for _, a := range ann.Annotations {
		refs[a.ImageID] = append(refs[a.ImageID], text.Tokenize(a.Caption))
	}
	seen := map[int64]bool{}
	var unknown, dup []int64
	for _, r := range results {
		if _, ok := refs[r.ImageID]; !ok {
			unknown = append(unknown, r.ImageID)
		} else if seen[r.ImageID] {
			dup = append(dup, r.ImageID)
		}
		seen[r.ImageID] = true
	}
	var missing []int64
	for id, rs := range refs {
		if !seen[id] && len(rs) > 0 {
			missing = append(missing, id)
		}
	}
	sort.Slice(missing, func(i, j int) bool { return missing[i] < missing[j] })
	switch {
	case len(unknown) > 0:
		return Scores{}, fmt.Errorf("results: %d captions for image ids not in the annotations: %s", len(unknown), ids(unknown))
	case len(dup) > 0:
		return Scores{}, fmt.Errorf("results: %d image ids have more than one caption: %s", len(dup), ids(dup))
	case len(missing) > 0:
		return Scores{}, fmt.Errorf("results: %d annotated images have no caption: %s", len(missing), ids(missing))
	}
	examples := make([]Example, 0, len(results))
	for _, r := range results {
		if len(refs[r.ImageID]) == 0 {
			return Scores{}, fmt.Errorf("results: image %d has no reference caption in the annotations", r.ImageID)
		}
		examples = append(examples, Example{Candidate: text.Tokenize(r.Caption), References: refs[r.ImageID]})
	}
	return Evaluate(examples)
}
