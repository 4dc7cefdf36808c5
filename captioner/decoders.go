package captioner

import (
	"fmt"
	"math"

	"github.com/attncap/attncap/captioner/decoder"
	"github.com/attncap/attncap/captioner/decoder/lstm"
	"github.com/attncap/attncap/captioner/decoder/transformer"
)

// This file is the one place that knows the decoder implementations: their names, their default
// sizes and learning rates, and how Config.Decoder maps to a decoder package and the flat config
// to that package's Options. Adding a decoder means a package under captioner/decoder, a case
// in each switch below, and its fields in Config (docs/architecture.md, "Adding a decoder").

// Decoder names.
const (
	DecoderLSTM        = "lstm"
	DecoderTransformer = "transformer"
)

// DefaultConfigFor returns the defaults for an encoder and a decoder. The Transformer's
// (see docs/decoders.md for the measurements behind them): for ResNet features d = 512, 2
// layers of 8 heads, feed-forward 2048, dropout 0.1 (the base model of "Attention Is All You
// Need" at a third of its depth, which decodes as fast as the LSTM of the same width); for the
// tiny encoder d = 128, 2 layers of 4 heads, feed-forward 512, dropout 0.1; learned positions,
// untied embeddings, no attention regulariser.
func DefaultConfigFor(encoder, decoder string) Config {
	c := DefaultConfig(encoder)
	if decoder == "" || decoder == DecoderLSTM {
		return c
	}
	c.Decoder = decoder
	if decoder == DecoderTransformer {
		c.EmbedDim, c.Layers, c.Heads, c.FFDim, c.Dropout = 512, 2, 8, 2048, 0.1
		if encoder == "tiny" {
			c.EmbedDim, c.Layers, c.Heads, c.FFDim = 128, 2, 4, 512
		}
		c.Positions, c.AttentionReg, c.HiddenDim, c.AttentionDim = "learned", 0, 0, 0
	}
	return c
}

// NewDecoder returns the decoder cfg selects (Config.DecoderName). cfg must be valid.
func NewDecoder(cfg *Config) decoder.Decoder {
	if cfg.DecoderName() == DecoderTransformer {
		return transformer.New(cfg.transformerOptions())
	}
	return lstm.New(cfg.lstmOptions())
}

func (c *Config) lstmOptions() lstm.Options {
	return lstm.Options{VocabSize: c.VocabSize, EmbedDim: c.EmbedDim, HiddenDim: c.HiddenDim, AttentionDim: c.AttentionDim,
		Dropout: c.Dropout, RegionCoords: c.RegionCoords, Activation: c.AttentionActivation, DType: c.DType}
}

func (c *Config) transformerOptions() transformer.Options {
	return transformer.Options{VocabSize: c.VocabSize, MaxLen: c.MaxLen, Width: c.EmbedDim, Layers: c.Layers, Heads: c.Heads,
		FFDim: c.FFDim, Dropout: c.Dropout, Positions: c.Positions, TieEmbeddings: c.TieEmbeddings, DType: c.DType}
}

// ValidateDecoder reports the first decoder setting that cannot work: the decoder's own
// Options.Validate, and the config fields that belong to one decoder only (the attention
// regulariser and region coordinates are the LSTM's).
func (c *Config) ValidateDecoder() error {
	switch c.DecoderName() {
	case DecoderLSTM:
		if err := c.lstmOptions().Validate(); err != nil {
			return err
		}
		if c.AttentionReg < 0 || math.IsNaN(c.AttentionReg) {
			return fmt.Errorf("attention regulariser λ = %v: want 0 (off) or more", c.AttentionReg)
		}
	case DecoderTransformer:
		if err := c.transformerOptions().Validate(); err != nil {
			return err
		}
		switch {
		case c.AttentionReg != 0:
			return fmt.Errorf("the attention regulariser (λ = %v) is defined for the LSTM's attention only; the transformer needs 0", c.AttentionReg)
		case c.RegionCoords:
			return fmt.Errorf("region coordinates (-region-coords) are for the LSTM decoder only")
		case c.AttentionActivation != "":
			return fmt.Errorf("attention_activation %q is the LSTM decoder's setting; the transformer needs none", c.AttentionActivation)
		}
	default:
		return fmt.Errorf("unknown decoder %q: want lstm or transformer", c.Decoder)
	}
	return nil
}

// DefaultLR is the cross-entropy stage's Adam learning rate for a decoder over an encoder: the
// LSTM's 1e-3 (2e-3 over the tiny encoder); the Transformer's 5e-4 (1e-3 over the tiny
// encoder), see docs/decoders.md.
func DefaultLR(encoderName, decoderName string) float64 {
	if decoderName == DecoderTransformer {
		if encoderName == "tiny" {
			return 1e-3
		}
		return 5e-4
	}
	if encoderName == "tiny" {
		return 2e-3
	}
	return 1e-3
}

// TakesRegionCoords says whether the configured decoder can take region coordinates
// (Config.RegionCoords): the LSTM can.
func (c *Config) TakesRegionCoords() bool { return c.DecoderName() == DecoderLSTM }

// DecoderSizes describes the decoder's sizes in words, for logs.
func (c *Config) DecoderSizes() string {
	if c.DecoderName() == DecoderTransformer {
		pos := c.Positions
		if c.TieEmbeddings {
			pos += " positions, tied embeddings"
		} else {
			pos += " positions"
		}
		return fmt.Sprintf("width %d, %d layers of %d heads, feed-forward %d, dropout %v, %s", c.EmbedDim, c.Layers, c.Heads, c.FFDim, c.Dropout, pos)
	}
	sizes := fmt.Sprintf("embedding %d, hidden %d, attention %d, dropout %v", c.EmbedDim, c.HiddenDim, c.AttentionDim, c.Dropout)
	if c.RegionCoords {
		sizes += ", region coordinates"
	}
	if c.AttentionActivation == lstm.ActivationReLU {
		sizes += ", ReLU attention"
	}
	return sizes
}
