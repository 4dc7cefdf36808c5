package captioner

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/internal/atomicfile"
)

// Config is everything that defines a captioning model: with the vocabulary and the variables,
// it is all a checkpoint folder needs to caption an image later. It is saved as config.json.
type Config struct {
	// Encoder is "tiny" or a ResNet name (resnet18, resnet34, resnet50, resnet101, resnet152).
	Encoder string `json:"encoder" flag:"encoder"`
	// Weights identifies the encoder's pretrained weights ("hf:timm/resnet50.a1_in1k", a file
	// path, or "" for random initialisation / trained from scratch).
	Weights string `json:"weights,omitempty" flag:"weights"`
	// FineTuneFrom is the first ResNet stage (1..4) trained with the decoder; 0 freezes the
	// encoder.
	FineTuneFrom int `json:"finetune_from,omitempty" flag:"finetune"`
	// ImageSize is the side S of the square input images.
	ImageSize int `json:"image_size" flag:"image-size"`
	// GridSize, when > 0, average-pools the encoder grid to GridSize×GridSize regions.
	GridSize int `json:"grid_size,omitempty" flag:"grid"`
	// Mean and Std normalise RGB values in [0,1].
	Mean [3]float32 `json:"mean"`
	Std  [3]float32 `json:"std"`

	// VocabSize is the number of token ids, the four special tokens included.
	VocabSize int `json:"vocab_size"`
	// MaxLen is the length of encoded captions, <start> and <end> included.
	MaxLen int `json:"max_len"`

	EmbedDim     int     `json:"embed_dim" flag:"embed"`
	HiddenDim    int     `json:"hidden_dim" flag:"hidden"`
	AttentionDim int     `json:"attention_dim" flag:"attention"`
	Dropout      float64 `json:"dropout" flag:"dropout"`
	// AttentionReg is λ of the doubly-stochastic attention regulariser.
	AttentionReg float64 `json:"attention_reg"`
}

// DefaultConfig returns the defaults for an encoder: 512-wide embedding, hidden state and
// attention, dropout 0.5, λ = 1, ImageNet normalisation; 224-pixel images for ResNets, 64 for
// the tiny encoder (whose smaller sizes suit the synthetic data).
func DefaultConfig(encoder string) Config {
	c := Config{
		Encoder: encoder, ImageSize: 224, Mean: datasets.ImageNetMean, Std: datasets.ImageNetStd,
		MaxLen: 50, EmbedDim: 512, HiddenDim: 512, AttentionDim: 512, Dropout: 0.5, AttentionReg: 1,
	}
	if encoder == "tiny" {
		c.ImageSize, c.EmbedDim, c.HiddenDim, c.AttentionDim, c.Dropout = 64, 128, 256, 128, 0.2
	}
	if encoder == "resnet50" {
		c.Weights = "hf:timm/resnet50.a1_in1k"
	}
	return c
}

// EncoderChannels is the channel count C of the regions the encoder produces.
func (c *Config) EncoderChannels() (int, error) {
	if c.Encoder == "tiny" {
		return 256, nil
	}
	spec, ok := ResNetSpecs[c.Encoder]
	if !ok {
		return 0, fmt.Errorf("unknown encoder %q: want tiny, resnet18, resnet34, resnet50, resnet101 or resnet152", c.Encoder)
	}
	return spec.Channels(), nil
}

// ValidateEncoder reports the first encoder setting that cannot work.
func (c *Config) ValidateEncoder() error {
	if _, err := c.EncoderChannels(); err != nil {
		return err
	}
	switch {
	case c.ImageSize < 32:
		return fmt.Errorf("image size %d is too small (at least 32)", c.ImageSize)
	case c.FineTuneFrom < 0 || c.FineTuneFrom > 4:
		return fmt.Errorf("fine-tune stage %d must be 0 (frozen) or 1..4", c.FineTuneFrom)
	}
	return nil
}

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if err := c.ValidateEncoder(); err != nil {
		return err
	}
	switch {
	case c.VocabSize < 5:
		return fmt.Errorf("vocabulary size %d: needs the 4 special tokens and at least one word", c.VocabSize)
	case c.MaxLen < 3:
		return fmt.Errorf("max caption length %d: needs at least 3 (with <start> and <end>)", c.MaxLen)
	case c.EmbedDim < 1 || c.HiddenDim < 1 || c.AttentionDim < 1:
		return fmt.Errorf("model sizes must be positive: embed %d, hidden %d, attention %d", c.EmbedDim, c.HiddenDim, c.AttentionDim)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("dropout %v must be in [0, 1)", c.Dropout)
	}
	return nil
}

// SaveConfig writes c as JSON, atomically.
func SaveConfig(path string, c *Config) error {
	data, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(data, '\n'))
}

// LoadConfig reads a config.json written by SaveConfig and validates it.
func LoadConfig(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("model config: %w", err)
	}
	c := &Config{}
	if err := json.Unmarshal(data, c); err != nil {
		return nil, fmt.Errorf("model config %s: %w", path, err)
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("model config %s: %w", path, err)
	}
	return c, nil
}
