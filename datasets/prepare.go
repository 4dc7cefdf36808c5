package datasets

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"image"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/attncap/attncap/datasets/text"
)

// SplitCount is the size of one split.
type SplitCount struct {
	Images   int `json:"images"`
	Captions int `json:"captions"`
}

// Summary describes a prepared dataset; it is what `scripts/prepare -json` prints.
type Summary struct {
	Splits            map[Split]SplitCount `json:"splits"`
	VocabSize         int                  `json:"vocab_size"`
	MissingImages     int                  `json:"missing_images"`
	TruncatedCaptions int                  `json:"truncated_captions"`
}

// TokenizeSplit tokenizes every caption of one split, in order.
func (d *Dataset) TokenizeSplit(s Split) [][]string {
	var out [][]string
	for _, e := range d.Examples {
		if e.Split == s {
			for _, c := range e.Captions {
				out = append(out, text.Tokenize(c))
			}
		}
	}
	return out
}

// BuildVocab builds the vocabulary from the training split only (so val/test words never leak
// into the model). It is an error when the split is empty, or when minCount keeps no word (only
// the four special tokens): the message names -min-count and the count of the most frequent
// word, the highest value that keeps one.
func (d *Dataset) BuildVocab(minCount int) (*text.Vocab, error) {
	train := d.TokenizeSplit(Train)
	if len(train) == 0 {
		return nil, fmt.Errorf("%s: the train split is empty; a vocabulary needs training captions", d.Name)
	}
	v := text.BuildVocab(train, minCount)
	if v.Size() > len(specialTokens) {
		return v, nil
	}
	word, count := text.MostFrequent(train)
	if count == 0 {
		return nil, fmt.Errorf("%s: the train captions hold no word once tokenized (only punctuation?); a vocabulary needs words", d.Name)
	}
	times := "times"
	if count == 1 {
		times = "time"
	}
	return nil, fmt.Errorf("%s: -min-count %d keeps no word in the vocabulary: the most frequent train word, %q, occurs %d %s; use -min-count %d or lower",
		d.Name, minCount, word, count, times, count)
}

// specialTokens are the tokens every vocabulary starts with.
var specialTokens = []string{text.PadToken, text.StartToken, text.EndToken, text.UnkToken}

// MaxUnknownShare is the share of the train split's word tokens mapped to <unk> above which
// UnknownShareWarning warns: past it, a lower min-count keeps words the captions need.
const MaxUnknownShare = 0.05

// UnknownShareWarning says, when v (built with BuildVocab) maps more than MaxUnknownShare of
// the train split's word tokens to <unk>, how many and what to do; "" otherwise.
func (d *Dataset) UnknownShareWarning(v *text.Vocab) string {
	unknown, total := v.CountUnknown(d.TokenizeSplit(Train))
	if total == 0 || float64(unknown) <= MaxUnknownShare*float64(total) {
		return ""
	}
	return fmt.Sprintf("%s: -min-count %d maps %.1f%% of the train split's word tokens (%d of %d) to <unk>, over %.0f%%; a lower -min-count keeps more words",
		d.Name, v.MinCount, 100*float64(unknown)/float64(total), unknown, total, 100*MaxUnknownShare)
}

// Summarize counts images and captions per split and the captions that encoding to maxLen
// tokens (markers included) would truncate.
func (d *Dataset) Summarize(vocab *text.Vocab, maxLen int) Summary {
	sum := Summary{Splits: map[Split]SplitCount{}, VocabSize: vocab.Size(), MissingImages: d.Missing}
	for _, s := range Splits {
		images, captions := d.CountSplit(s)
		sum.Splits[s] = SplitCount{Images: images, Captions: captions}
	}
	for _, e := range d.Examples {
		for _, c := range e.Captions {
			if _, truncated := vocab.Encode(text.Tokenize(c), maxLen); truncated {
				sum.TruncatedCaptions++
			}
		}
	}
	return sum
}

// CheckImages reads the header of every image (in parallel) and returns an error naming the
// files that are not readable JPEG/PNG images or exceed maxPixels.
func (d *Dataset) CheckImages(maxPixels int) error {
	if maxPixels <= 0 {
		maxPixels = DefaultMaxPixels
	}
	errs := make([]error, len(d.Examples))
	_ = ParallelFor(len(d.Examples), func(i int) error {
		errs[i] = checkImageHeader(d.Examples[i].Image, maxPixels)
		return nil
	})
	var bad []string
	for _, err := range errs {
		if err != nil {
			bad = append(bad, err.Error())
		}
	}
	if len(bad) == 0 {
		return nil
	}
	return fmt.Errorf("%s: %d unreadable images:\n  %s", d.Name, len(bad), strings.Join(firstN(bad, 10), "\n  "))
}

// checkImageHeader decodes just the header of an image file.
func checkImageHeader(path string, maxPixels int) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("image %s: %w", path, err)
	}
	defer f.Close()
	head := make([]byte, 64*1024) // JPEG headers with EXIF thumbnails can be tens of KB
	n, _ := io.ReadFull(f, head)
	cfg, _, err := image.DecodeConfig(bytes.NewReader(head[:n]))
	if err != nil {
		return fmt.Errorf("image %s: not a readable JPEG, PNG, WebP, BMP or GIF file: %w", path, err)
	}
	if int64(cfg.Width)*int64(cfg.Height) > int64(maxPixels) {
		return fmt.Errorf("image %s: %dx%d is over the %d-pixel limit", path, cfg.Width, cfg.Height, maxPixels)
	}
	return nil
}

// PrepareOptions configure Prepare.
type PrepareOptions struct {
	Load      LoadOptions
	MinCount  int
	MaxLen    int
	VocabPath string           // "" saves under the user cache folder
	Warn      func(msg string) // receives each data warning; nil drops them
}

// Prepare resolves and loads the dataset named by data (a path or "shapes"), checks every
// image header, builds the vocabulary from the train split (warning through opts.Warn when
// MinCount maps over MaxUnknownShare of its word tokens to <unk>), saves it, and summarises
// the set.
// It returns the summary and where the vocabulary was saved.
func Prepare(data string, opts PrepareOptions) (Summary, string, error) {
	path, err := ResolveData(data)
	if err != nil {
		return Summary{}, "", err
	}
	d, err := Load(path, opts.Load)
	if err != nil {
		return Summary{}, "", err
	}
	if opts.Warn != nil {
		for _, w := range d.Warnings {
			opts.Warn(w)
		}
	}
	if err := d.CheckImages(0); err != nil {
		return Summary{}, "", err
	}
	vocab, err := d.BuildVocab(opts.MinCount)
	if err != nil {
		return Summary{}, "", err
	}
	if w := d.UnknownShareWarning(vocab); w != "" && opts.Warn != nil {
		opts.Warn(w)
	}
	vocabPath := opts.VocabPath
	if vocabPath == "" {
		if vocabPath, err = defaultVocabPath(path); err != nil {
			return Summary{}, "", err
		}
	}
	if err := vocab.Save(vocabPath); err != nil {
		return Summary{}, "", err
	}
	maxLen := opts.MaxLen
	if maxLen == 0 {
		maxLen = text.DefaultMaxLen
	}
	return d.Summarize(vocab, maxLen), vocabPath, nil
}

// defaultVocabPath is the user cache folder, under a name derived from the dataset's absolute
// path (datasets may live in read-only folders).
func defaultVocabPath(dataPath string) (string, error) {
	abs, err := filepath.Abs(dataPath)
	if err != nil {
		return "", err
	}
	cache, err := os.UserCacheDir()
	if err != nil {
		return "", fmt.Errorf("no cache folder for the vocabulary (%w); pass -vocab PATH", err)
	}
	sum := sha256.Sum256([]byte(abs))
	return filepath.Join(cache, "attncap", "vocab", fmt.Sprintf("%s-%x.json", filepath.Base(abs), sum[:4])), nil
}
