package captioner

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/attncap/attncap/captioner/metrics"
	"github.com/attncap/attncap/datasets"
	"github.com/gomlx/compute"
)

// OpenModel loads a model from a run folder (its best/ model), a model folder itself, or a
// model folder on the Hugging Face hub (hf:OWNER/REPO[@REVISION], see ResolveCheckpoint).
func OpenModel(backend compute.Backend, dir string) (*Model, error) {
	dir, err := ResolveCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(dir, ConfigFile)); err != nil {
		if _, err2 := os.Stat(filepath.Join(dir, bestDir, ConfigFile)); err2 == nil {
			dir = filepath.Join(dir, bestDir)
		} else {
			return nil, fmt.Errorf("checkpoint %s: neither a model folder (%s) nor a run folder (%s/%s): %w", dir, ConfigFile, bestDir, ConfigFile, err)
		}
	}
	return LoadModel(backend, dir)
}

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
func EvaluateSplit(m *Model, ds *datasets.Dataset, split datasets.Split, opts DecodeOptions, batch int, progress io.Writer) (*SplitEvaluation, error) {
	examples := ds.Split(split)
	if len(examples) == 0 {
		return nil, fmt.Errorf("evaluate: %s has no %s images", ds.Name, split)
	}
	ev := &SplitEvaluation{}
	for _, e := range examples {
		ev.Images = append(ev.Images, e.Image)
	}
	caps, err := m.CaptionImages(ev.Images, opts, batch, progress)
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

// CaptionText joins a caption's words, or says it is empty.
func CaptionText(c Caption) string {
	if len(c.Words) == 0 {
		return "(empty caption)"
	}
	return strings.Join(c.Words, " ")
}
