package captioner

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
	return objectAccuracy(file, ev.Images, ev.Captions)
}

// objectAccuracy judges captions of images against the ground truth in file ("": none, nil
// scores).
func objectAccuracy(file string, images []string, caps []Caption) (*metrics.ObjectScores, []metrics.ObjectJudgement, error) {
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

// testObjectAccuracy is the final test's object accuracy, when the run's dataset has shapes
// ground truth (nil otherwise). A ground truth that cannot be used is a warning, not an error:
// the run and its other test scores are kept, and scripts/evaluate can judge the model later.
func (r *trainRun) testObjectAccuracy(images []string, caps []Caption) *metrics.ObjectScores {
	path, err := datasets.ResolveData(r.opts.Data)
	var file string
	if err == nil {
		file, err = datasets.EnsureShapesObjects(path)
	}
	var s *metrics.ObjectScores
	if err == nil {
		s, _, err = objectAccuracy(file, images, caps)
	}
	if err != nil {
		r.logf("warning: the final test goes without object accuracy: %v", err)
		return nil
	}
	return s
}
