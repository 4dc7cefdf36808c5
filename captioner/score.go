package captioner

import (
	"fmt"
	"math"

	"github.com/attncap/attncap/datasets/text"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/gomlx/core/tensors"
	"github.com/gomlx/gomlx/ml/model"

	. "github.com/gomlx/gomlx/core/graph" //nolint:staticcheck // graph code reads best with the ops unqualified, as in GoMLX's own layers
)

// CaptionScore is how probable the model finds a given caption of an image.
type CaptionScore struct {
	// Words are the caption's tokens as the model reads them (text.Tokenize), then "<end>";
	// a word outside the vocabulary is scored as <unk> and listed in Unknown.
	Words []string
	// IDs are their token ids.
	IDs []int32
	// LogProbs holds the natural-log probability of each of Words given the image and the
	// words before it (teacher forcing, inference mode: no dropout).
	LogProbs []float64
	// LogProb is their sum: the log-probability of the whole caption, <end> included.
	LogProb float64
	// Unknown lists the words the vocabulary does not have.
	Unknown []string
}

// PerWord is the caption's mean log-probability per token (<end> included); its negation's
// exponential is the caption's perplexity.
func (s CaptionScore) PerWord() float64 { return s.LogProb / float64(max(1, len(s.LogProbs))) }

// graphScore is the teacher-forced scoring graph (ExecKey.Graph).
const graphScore = "score"

// ScoreCaptions computes, for each image of regions [B, R, C] and its caption (captions[b],
// raw text, tokenised as the training captions are), the log-probability the model gives each
// word and <end>, reading the true previous words (teacher forcing) — for checking a model
// against another implementation, reranking candidates, or perplexity. Captions are padded to
// the longest; padding does not change the scores (each step sees only the words before it).
func (m *Model) ScoreCaptions(regions *tensors.Tensor, captions []string) ([]CaptionScore, error) {
	if err := m.CheckRegions(regions); err != nil {
		return nil, err
	}
	if b := regions.Shape().Dimensions[0]; b != len(captions) {
		return nil, fmt.Errorf("score: %d images but %d captions", b, len(captions))
	}
	scores := make([]CaptionScore, len(captions))
	longest := 0
	for i, c := range captions {
		scores[i] = m.tokenize(c)
		longest = max(longest, len(scores[i].IDs))
	}
	if limit := NewDecoder(m.Config).MaxLen(); limit > 0 && longest+1 > limit {
		return nil, fmt.Errorf("score: a caption of %d tokens is longer than the %s decoder reads (%d with <start>)", longest, m.Config.DecoderName(), limit)
	}
	steps := longest + 1 // <start> + words + <end>
	ids := make([]int32, len(captions)*steps)
	for i, s := range scores {
		row := ids[i*steps : (i+1)*steps]
		row[0] = text.StartID
		copy(row[1:], s.IDs) // the rest stays <pad>
	}
	exec, err := m.Exec(ExecKey{Graph: graphScore}, func() (*model.Exec, error) {
		dec := NewDecoder(m.Config)
		return model.NewExec(m.Backend, m.Store, func(scope *model.Scope, regions, captions *Node) *Node {
			logits, _ := dec.TeacherForced(scope, regions, captions)
			logProbs := LogSoftmax(ConvertDType(logits, dtypes.Float32), -1) // [B, T−1, V]
			next := Slice(captions, AxisRange(), AxisRange(1))               // [B, T−1]
			return ReduceSum(Mul(logProbs, OneHot(next, m.Config.VocabSize, dtypes.Float32)), -1)
		})
	})
	if err != nil {
		return nil, err
	}
	out, err := m.Call(exec, regions, tensors.FromFlatDataAndDimensions(ids, len(captions), steps))
	if err != nil {
		return nil, fmt.Errorf("score: %w", err)
	}
	values := tensors.MustCopyFlatData[float32](out[0])
	out[0].MustFinalizeAll()
	for i := range scores {
		s := &scores[i]
		s.LogProbs = make([]float64, len(s.IDs))
		for j := range s.IDs {
			s.LogProbs[j] = float64(values[i*(steps-1)+j])
			s.LogProb += s.LogProbs[j]
		}
		if math.IsNaN(s.LogProb) {
			return nil, fmt.Errorf("score: caption %d: the model gives NaN (are the weights intact?)", i)
		}
	}
	return scores, nil
}

// tokenize is a caption's tokens and ids, <end> appended, for ScoreCaptions.
func (m *Model) tokenize(caption string) CaptionScore {
	var s CaptionScore
	for _, w := range text.Tokenize(caption) {
		id := m.Vocab.ID(w)
		if id == text.UnkID && w != text.UnkToken {
			s.Unknown = append(s.Unknown, w)
		}
		s.Words, s.IDs = append(s.Words, w), append(s.IDs, int32(id))
	}
	s.Words, s.IDs = append(s.Words, text.EndToken), append(s.IDs, text.EndID)
	return s
}
