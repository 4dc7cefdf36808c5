package decode

import (
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/metrics"
	"github.com/attncap/attncap/datasets"
)

// SplitEvaluation is a model's captions of a dataset split, scored.
type SplitEvaluation struct {
	Scores      metrics.Scores
	Results     []metrics.COCOResult    // image_id = index of the image in the split
	Annotations metrics.COCOAnnotations // the references, in COCO annotation format
	Images      []string
	Captions    []Caption
}

// EvaluateSplit captions every image of a split and scores the captions against the split's
// references, as coco-caption would score the returned Results against Annotations.
func EvaluateSplit(m *captioner.Model, ds *datasets.Dataset, split datasets.Split, opts Options, batch int, progress io.Writer) (*SplitEvaluation, error) {
	examples := ds.Split(split)
	if len(examples) == 0 {
		return nil, fmt.Errorf("evaluate: %s has no %s images", ds.Name, split)
	}
	ev := &SplitEvaluation{}
	for _, e := range examples {
		ev.Images = append(ev.Images, e.Image)
	}
	caps, err := Images(m, ev.Images, opts, batch, progress)
	if err != nil {
		return nil, err
	}
	ev.Captions = caps
	annID := int64(0)
	for i, e := range examples {
		id := datasets.IntID(int64(i))
		ev.Results = append(ev.Results, metrics.COCOResult{ImageID: id, Caption: strings.Join(caps[i].Words, " ")})
		ev.Annotations.Images = append(ev.Annotations.Images, datasets.COCOImage{ID: id, FileName: filepath.Base(e.Image)})
		for _, c := range e.Captions {
			ev.Annotations.Annotations = append(ev.Annotations.Annotations, datasets.COCOAnnotation{ID: datasets.IntID(annID), ImageID: id, Caption: c})
			annID++
		}
	}
	if ev.Scores, err = metrics.EvaluateCOCO(&ev.Annotations, ev.Results); err != nil {
		return nil, err
	}
	return ev, nil
}

// Text joins the caption's words, or says it is empty.
func (c Caption) Text() string {
	if len(c.Words) == 0 {
		return "(empty caption)"
	}
	return strings.Join(c.Words, " ")
}
