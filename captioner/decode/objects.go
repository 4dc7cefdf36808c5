package decode

import (
	"strings"

	"github.com/attncap/attncap/captioner/metrics"
	"github.com/attncap/attncap/datasets"
)

// ObjectAccuracy judges the evaluation's captions against the shapes ground truth beside the
// dataset at data (a -data argument: a folder, a file in it, or "shapes"; see
// datasets.EnsureShapesObjects and metrics.ObjectAccuracy). A dataset without ground truth (any
// real one) gives nil scores and no error; a ground-truth file that cannot be read, or that
// does not list an evaluated image, is an error.
func (ev *SplitEvaluation) ObjectAccuracy(data string) (*metrics.ObjectScores, []metrics.ObjectJudgement, error) {
	path, err := datasets.ResolveData(data)
	if err != nil {
		return nil, nil, err
	}
	file, err := datasets.EnsureShapesObjects(path)
	if err != nil {
		return nil, nil, err
	}
	return ObjectAccuracy(file, ev.Images, ev.Captions)
}

// ObjectAccuracy judges captions of images against the ground truth in file ("": none, nil
// scores).
func ObjectAccuracy(file string, images []string, caps []Caption) (*metrics.ObjectScores, []metrics.ObjectJudgement, error) {
	if file == "" {
		return nil, nil, nil
	}
	truth, err := datasets.LoadShapesObjects(file)
	if err != nil {
		return nil, nil, err
	}
	list := make([]metrics.ObjectCaption, len(caps))
	for i, c := range caps {
		list[i] = metrics.ObjectCaption{Image: images[i], Caption: strings.Join(c.Words, " ")}
	}
	s, judged, err := metrics.ObjectAccuracy(truth, list)
	if err != nil {
		return nil, nil, err
	}
	return &s, judged, nil
}
