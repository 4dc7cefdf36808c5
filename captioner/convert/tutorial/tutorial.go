// Package tutorial imports the checkpoints of the most used PyTorch implementation of Show,
// Attend and Tell, sgrvinod/a-PyTorch-Tutorial-to-Image-Captioning (its published COCO model
// and the many trained with its code), as ordinary attncap model folders.
//
// The tutorial's model is attncap's LSTM decoder with a ReLU in the attention
// (lstm.ActivationReLU) over a torchvision ResNet whose grid is average-pooled to 14×14
// (PyTorch's adaptive pooling, which pools a 256-pixel image's 8×8 grid up); its inputs are
// images squashed to 256×256 with Pillow's bilinear filter (datasets.ResizeBilinear) and
// ImageNet-normalised (caption.py). Convert reads the checkpoint in Go (internal/torchfile: both
// of torch.save's serialisations, whole pickled modules or state_dicts) and writes a model
// folder whose config records all of that, so every attncap tool captions as the tutorial's
// caption.py does.
package tutorial

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decoder/lstm"
	"github.com/attncap/attncap/captioner/encoder"
	"github.com/attncap/attncap/captioner/layers"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/internal/safetensors"
	"github.com/attncap/attncap/internal/torchfile"
	"github.com/gomlx/gomlx/ml/model"
)

// The tutorial's fixed settings (caption.py, models.py, train.py).
const (
	// ImageSize is the side images are squashed to.
	ImageSize = 256
	// GridSize is the Encoder's default encoded_image_size.
	GridSize = 14
	// MaxLen bounds captions as caption_image_beam_search does: it stops after 51 words
	// (<end> included), so 52 with <start>.
	MaxLen = 52
	// AttentionReg is train.py's alpha_c, the doubly stochastic regulariser's weight.
	AttentionReg = 1.0
	// MaxGridSize bounds Options.GridSize.
	MaxGridSize = 64
)

// Options say what to convert.
type Options struct {
	// Checkpoint is the tutorial's checkpoint (BEST_checkpoint_….pth.tar), or a state_dict file
	// ({"encoder": …, "decoder": …}, or the decoder's alone).
	Checkpoint string
	// WordMap is the WORDMAP_….json the checkpoint was trained with.
	WordMap string
	// EncoderWeights is a safetensors file of a torchvision ResNet (the tutorial's encoder
	// before fine-tuning, e.g. resnet101), needed when the checkpoint holds the decoder alone.
	EncoderWeights string
	// GridSize overrides the encoder's pooled grid when > 0 (the checkpoint's own when it holds
	// the Encoder module whole, else 14).
	GridSize int
	// Out is the model folder to write; it must not exist or be empty.
	Out string
}

// Result describes a converted model.
type Result struct {
	Config captioner.Config
	// Format is the checkpoint's serialisation (torchfile: "zip" or "legacy"); Layout says what
	// it held ("whole modules", "state_dicts", "decoder state_dict").
	Format, Layout string
	// Words is the vocabulary size, the four special tokens included.
	Words int
}

// Convert reads opts.Checkpoint and opts.WordMap and writes the model folder opts.Out
// (config.json, vocab.json, model.safetensors). The folder appears whole or not at all: it is
// written beside opts.Out under a temporary name, then renamed. Errors name the file and say
// what it holds instead of what was expected.
func Convert(opts Options) (*Result, error) {
	if err := checkOut(opts.Out); err != nil {
		return nil, err
	}
	if opts.GridSize < 0 || opts.GridSize > MaxGridSize {
		return nil, fmt.Errorf("grid %d: want 1 … %d (0: the checkpoint's, else %d)", opts.GridSize, MaxGridSize, GridSize)
	}
	wm, err := loadWordMap(opts.WordMap)
	if err != nil {
		return nil, err
	}
	ck, err := torchfile.Load(opts.Checkpoint)
	if err != nil {
		return nil, err
	}
	p, err := findParts(ck)
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", opts.Checkpoint, err)
	}
	s, err := p.sizes()
	if err != nil {
		return nil, fmt.Errorf("checkpoint %s: %w", opts.Checkpoint, err)
	}
	if len(wm) != s.vocab {
		return nil, fmt.Errorf("word map %s has %d entries but the checkpoint %s has %d words: pass the word map it was trained with",
			opts.WordMap, len(wm), opts.Checkpoint, s.vocab)
	}
	vocab, perm, err := wm.vocab()
	if err != nil {
		return nil, fmt.Errorf("word map %s: %w", opts.WordMap, err)
	}
	res := &Result{Format: ck.Format, Words: vocab.Size(), Layout: layout(ck, p)}
	encName, loadEncoder, err := encoderOf(p, opts)
	if err != nil {
		return nil, err
	}
	grid := opts.GridSize
	if grid <= 0 {
		grid = gridSize(ck, GridSize)
	}
	res.Config = config(encName, grid, s, dropout(ck, 0.5), filepath.Base(opts.Checkpoint))
	if ch, _ := encoder.Channels(encName); ch != s.channels {
		return nil, fmt.Errorf("checkpoint %s: the decoder reads %d channels but %s gives %d", opts.Checkpoint, s.channels, encName, ch)
	}
	store := model.NewStore()
	if err := loadEncoder(store); err != nil {
		return nil, err
	}
	vars := p.decoderVariables(s, perm)
	for _, path := range slices.Sorted(maps.Keys(vars)) { // sorted: the same file every time
		if err := layers.SetVariable(store, path, vars[path]); err != nil {
			return nil, err
		}
	}
	ck, p = nil, nil // the checkpoint's tensors are no longer needed while the folder is written
	if err := writeFolder(opts.Out, &res.Config, vocab, store); err != nil {
		return nil, err
	}
	return res, nil
}

// config is the attncap config of the tutorial's model.
func config(encName string, grid int, s sizes, dropout float64, source string) captioner.Config {
	return captioner.Config{
		Encoder: encName, ImageSize: ImageSize, GridSize: grid,
		Mean: datasets.ImageNetMean, Std: datasets.ImageNetStd, Resize: datasets.ResizeBilinear,
		VocabSize: s.vocab, MaxLen: MaxLen, Decoder: captioner.DecoderLSTM,
		EmbedDim: s.embed, HiddenDim: s.hidden, AttentionDim: s.attention, Dropout: dropout,
		AttentionReg: AttentionReg, AttentionActivation: lstm.ActivationReLU,
		Source: "tutorial:" + source,
	}
}

// layout names what the checkpoint held.
func layout(ck *torchfile.Checkpoint, p *parts) string {
	switch {
	case ck.Modules["decoder"] != "":
		return "whole modules (" + ck.Modules["encoder"] + ", " + ck.Modules["decoder"] + ")"
	case p.decoder == "":
		return "decoder state_dict"
	}
	return "state_dicts"
}

// encoderOf finds the ResNet (in the checkpoint, or opts.EncoderWeights when it holds the
// decoder alone) and returns its name and how to load it into a store.
func encoderOf(p *parts, opts Options) (string, func(*model.Store) error, error) {
	if p.encoderPresent {
		if opts.EncoderWeights != "" {
			return "", nil, fmt.Errorf("checkpoint %s holds its encoder; -encoder %s would replace its fine-tuned weights: leave it out", opts.Checkpoint, opts.EncoderWeights)
		}
		src := resnetWeights{p, opts.Checkpoint}
		name, spec, ok := encoder.SpecOf(src.has)
		if !ok {
			return "", nil, fmt.Errorf("checkpoint %s: its encoder is a ResNet with %v blocks per stage (bottleneck %v), which is none of resnet18/34/50/101/152", opts.Checkpoint, spec.Blocks, spec.Bottleneck)
		}
		return name, func(st *model.Store) error { return encoder.LoadResNet(st, "encoder", spec, src) }, nil
	}
	if opts.EncoderWeights == "" {
		return "", nil, fmt.Errorf("checkpoint %s holds the decoder only: pass the encoder's ResNet weights with -encoder FILE.safetensors (torchvision names, e.g. resnet101's)", opts.Checkpoint)
	}
	sf, err := safetensors.Open(opts.EncoderWeights)
	if err != nil {
		return "", nil, err
	}
	defer sf.Close()
	name, spec, ok := encoder.SpecOf(func(n string) bool { _, ok := sf.Tensors[n]; return ok })
	if !ok {
		return "", nil, fmt.Errorf("encoder weights %s: not a torchvision ResNet (found %v blocks per stage; want conv1.weight, layer1.0.conv1.weight, …)", opts.EncoderWeights, spec.Blocks)
	}
	return name, func(st *model.Store) error {
		return encoder.LoadResNetWeights(st, "encoder", spec, opts.EncoderWeights)
	}, nil
}

// checkOut refuses an output path that exists as anything but an empty folder.
func checkOut(out string) error {
	if out == "" {
		return errors.New("no output folder (-out DIR)")
	}
	info, err := os.Lstat(out)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("output folder %s: %w", out, err)
	case !info.IsDir():
		return fmt.Errorf("output %s exists and is not a folder: remove it or pick another -out", out)
	}
	if entries, err := os.ReadDir(out); err != nil || len(entries) > 0 {
		return fmt.Errorf("output folder %s exists and is not empty: remove it or pick another -out", out)
	}
	return nil
}

// writeFolder writes the model folder under a temporary name beside out, then renames it.
func writeFolder(out string, cfg *captioner.Config, vocab interface{ Save(string) error }, store *model.Store) error {
	if err := cfg.Validate(); err != nil {
		return fmt.Errorf("converted config: %w", err)
	}
	parent := filepath.Dir(filepath.Clean(out))
	if err := os.MkdirAll(parent, 0o755); err != nil {
		return err
	}
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(out)+".converting-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)                      // after a successful rename there is nothing left to remove
	if err := os.Chmod(tmp, 0o755); err != nil { // MkdirTemp makes it private
		return err
	}
	if err := captioner.SaveConfig(filepath.Join(tmp, captioner.ConfigFile), cfg); err != nil {
		return err
	}
	if err := vocab.Save(filepath.Join(tmp, captioner.VocabFile)); err != nil {
		return err
	}
	if err := captioner.SaveVariables(store, filepath.Join(tmp, captioner.VariablesFile)); err != nil {
		return err
	}
	_ = os.Remove(out) // an empty folder may stand there
	if err := os.Rename(tmp, out); err != nil {
		return fmt.Errorf("model folder %s: %w", out, err)
	}
	return nil
}
