package captioner

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/attncap/attncap/captioner/encoder"
	"github.com/attncap/attncap/captioner/layers"
	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/internal/atomicfile"
)

// Config is everything that defines a captioning model: with the vocabulary and the variables,
// it is all a checkpoint folder needs to caption an image later. It is saved as config.json.
type Config struct {
	// Encoder is "tiny" or a ResNet name (resnet18, resnet34, resnet50, resnet101, resnet152).
	Encoder string `json:"encoder" flag:"encoder" help:"tiny (from scratch), resnet18, resnet34, resnet50, resnet101 or resnet152"`
	// Weights identifies the encoder's pretrained weights ("hf:timm/resnet50.a1_in1k", a file
	// path, or "" for random initialisation / trained from scratch).
	Weights string `json:"weights,omitempty" flag:"weights" help:"encoder weights: .safetensors file or hf:OWNER/REPO[@REV] (empty: trained from scratch)"`
	// FineTuneFrom is the first ResNet stage (1..4) trained with the decoder; 0 freezes the
	// encoder.
	FineTuneFrom int `json:"finetune_from,omitempty" flag:"finetune" help:"first ResNet stage (1-4) to fine-tune; 0 keeps the encoder frozen"`
	// ImageSize is the side S of the square input images.
	ImageSize int `json:"image_size" flag:"image-size" help:"input image side, pixels"`
	// GridSize, when > 0, average-pools the encoder grid to GridSize×GridSize regions.
	GridSize int `json:"grid_size,omitempty" flag:"grid" help:"average-pool the encoder grid to G×G regions (0: keep it)"`
	// Mean and Std normalise RGB values in [0,1].
	Mean [3]float32 `json:"mean"`
	Std  [3]float32 `json:"std"`
	// Resize is how an image is squashed to ImageSize×ImageSize (datasets.ImageOptions.Resize):
	// "" for attncap's Catmull-Rom, "bilinear" for Pillow's bilinear filter (the PyTorch
	// tutorial's preprocessing, kept by models that scripts/convert imports).
	Resize string `json:"resize,omitempty"`
	// Source says where an imported model came from (scripts/convert), for people and logs.
	Source string `json:"source,omitempty"`

	// VocabSize is the number of token ids, the four special tokens included.
	VocabSize int `json:"vocab_size"`
	// MaxLen is the length of encoded captions, <start> and <end> included.
	MaxLen int `json:"max_len"`

	// Decoder is "lstm" (Show, Attend and Tell; also when empty, as in checkpoints from before
	// the Transformer) or "transformer".
	Decoder string `json:"decoder,omitempty" flag:"decoder" help:"lstm (Show, Attend and Tell) or transformer"`

	// EmbedDim is the word embedding size; for the Transformer also its model width d.
	EmbedDim int `json:"embed_dim" flag:"embed" help:"word embedding size, the Transformer's width"`
	// HiddenDim and AttentionDim are the LSTM's state and additive-attention sizes.
	HiddenDim    int     `json:"hidden_dim" flag:"hidden" help:"LSTM hidden size"`
	AttentionDim int     `json:"attention_dim" flag:"attention" help:"LSTM attention size"`
	Dropout      float64 `json:"dropout" flag:"dropout" help:"dropout (LSTM: before the output layer; Transformer: every block)"`
	// AttentionReg is λ of the doubly-stochastic attention regulariser (LSTM only).
	AttentionReg float64 `json:"attention_reg" flag:"attention-reg" help:"LSTM: λ of the doubly-stochastic attention regulariser, λ·mean over regions of (1 − Σ_t α)² added to the loss (0 turns it off)"`
	// RegionCoords appends each region's grid position (x, y in (−1, 1), its cell's centre)
	// to its features before the LSTM decoder sees them (LSTM only; lstm.WithRegionCoords), so that
	// attention and the context vector say where an object is, not only what it looks like.
	RegionCoords bool `json:"region_coords,omitempty" flag:"region-coords" help:"LSTM: append each region's grid position (x, y) to its features, so attention and the context know where an object is"`
	// AttentionActivation is the LSTM attention's nonlinearity: "tanh" (also when empty, as in
	// the paper) or "relu" (the PyTorch tutorial's models, scripts/convert).
	AttentionActivation string `json:"attention_activation,omitempty"`

	// Transformer decoder: Layers pre-norm blocks of Heads heads (d/Heads wide each) and a
	// feed-forward block FFDim wide; Positions "learned" or "sinusoidal"; TieEmbeddings shares
	// the word embedding with the output layer (logits = x·Eᵀ + b).
	Layers        int    `json:"layers,omitempty" flag:"layers" help:"Transformer layers"`
	Heads         int    `json:"heads,omitempty" flag:"heads" help:"Transformer attention heads"`
	FFDim         int    `json:"ff_dim,omitempty" flag:"ff" help:"Transformer feed-forward width"`
	Positions     string `json:"positions,omitempty" flag:"positions" help:"Transformer word positions: learned or sinusoidal"`
	TieEmbeddings bool   `json:"tie_embeddings,omitempty" flag:"tie-embeddings" help:"Transformer: share the word embedding with the output layer"`

	// DType is the compute precision: "" or "float32" (the default; the graphs compute in the
	// dtype of their inputs, float32), or "bfloat16": activations and matrix products of the
	// encoder and decoder in bfloat16, with float32 variables (so Adam's moments and checkpoints
	// are float32) and float32 softmaxes, layer-norm statistics, LSTM cell state and outputs
	// (captioner/layers, docs/performance.md).
	DType string `json:"dtype,omitempty" flag:"dtype" help:"compute precision: float32, or bfloat16 (matrix products and activations in bfloat16 with float32 variables, Adam moments, softmaxes, layer norms and loss: for GPUs with bfloat16 tensor cores; see docs/performance.md)"`
}

// Compute precisions (Config.DType).
const (
	DTypeFloat32  = layers.Float32
	DTypeBFloat16 = layers.BFloat16
)

// ValidateDType reports a Config.DType that is neither float32 (or empty) nor bfloat16.
func (c *Config) ValidateDType() error { return layers.ValidatePrecision(c.DType) }

// DecoderName is the decoder the config selects ("lstm" when unset).
func (c *Config) DecoderName() string {
	if c.Decoder == "" {
		return DecoderLSTM
	}
	return c.Decoder
}

// DefaultConfig returns the defaults for an encoder with the LSTM decoder: 512-wide embedding,
// hidden state and attention, dropout 0.5, λ = 1, ImageNet normalisation; 224-pixel images for
// ResNets, 64 for the tiny encoder (whose smaller sizes suit the synthetic data).
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

// EncoderOptions are the encoder's part of the config.
func (c *Config) EncoderOptions() encoder.Options {
	return encoder.Options{Name: c.Encoder, ImageSize: c.ImageSize, GridSize: c.GridSize, FineTuneFrom: c.FineTuneFrom, DType: c.DType}
}

// GridDims is the encoder's grid (h, w) for the model's image size (encoder.Options.GridDims).
func (c *Config) GridDims() (h, w int) { return c.EncoderOptions().GridDims() }

// EncoderChannels is the channel count C of the regions the encoder produces.
func (c *Config) EncoderChannels() (int, error) { return encoder.Channels(c.Encoder) }

// ValidateEncoder reports the first encoder setting that cannot work (the compute dtype
// included, which the encoder uses too).
func (c *Config) ValidateEncoder() error { return c.EncoderOptions().Validate() }

// Validate reports the first setting that cannot work.
func (c *Config) Validate() error {
	if err := c.ValidateEncoder(); err != nil {
		return err
	}
	if err := datasets.ValidateResize(c.Resize); err != nil {
		return err
	}
	switch {
	case c.VocabSize < 5:
		return fmt.Errorf("vocabulary size %d: needs the 4 special tokens and at least one word", c.VocabSize)
	case c.MaxLen < 3:
		return fmt.Errorf("max caption length %d: needs at least 3 (with <start> and <end>)", c.MaxLen)
	case c.Dropout < 0 || c.Dropout >= 1:
		return fmt.Errorf("dropout %v must be in [0, 1)", c.Dropout)
	}
	return c.ValidateDecoder()
}

// SaveConfig writes c as JSON, atomically.
func SaveConfig(path string, c *Config) error { return atomicfile.WriteJSON(path, c) }

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
