package tutorial

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/attncap/attncap/internal/torchfile"
	"github.com/gomlx/compute/dtypes"
	"github.com/gomlx/compute/shapes"
	"github.com/gomlx/gomlx/core/tensors"
)

// The tutorial's module names (models.py): the encoder's ResNet is an nn.Sequential of
// torchvision's children, so conv1 is resnet.0, bn1 resnet.1 and layer1 … layer4 resnet.4 …
// resnet.7; the decoder's parts are attention.{encoder_att, decoder_att, full_att},
// embedding, decode_step (nn.LSTMCell), init_h, init_c, f_beta and fc.

// decoderKeys are the decoder's tensors, as its state_dict names them.
var decoderKeys = []string{
	"attention.encoder_att.weight", "attention.encoder_att.bias", "attention.decoder_att.weight",
	"attention.decoder_att.bias", "attention.full_att.weight", "attention.full_att.bias", "embedding.weight",
	"decode_step.weight_ih", "decode_step.weight_hh", "decode_step.bias_ih", "decode_step.bias_hh",
	"init_h.weight", "init_h.bias", "init_c.weight", "init_c.bias", "f_beta.weight", "f_beta.bias", "fc.weight", "fc.bias",
}

// dataParallel matches the "module." that nn.DataParallel puts before every name.
var dataParallel = regexp.MustCompile(`(^|\.)module\.`)

// parts locates the encoder's and the decoder's tensors in a checkpoint: the tutorial's dict of
// whole modules or of state_dicts ("encoder.resnet.0.weight", "decoder.fc.weight"), or the
// decoder's state_dict alone ("fc.weight"); nn.DataParallel's "module." is dropped.
type parts struct {
	ck             *torchfile.Checkpoint
	tensors        map[string]*torchfile.Tensor // by name without "module."
	original       map[string]string            // the checkpoint's name of each
	decoder        string                       // prefix of the decoder's names: "decoder." or ""
	encoder        string                       // prefix of the ResNet's names ("encoder.resnet."), "" when absent
	encoderPresent bool
}

func findParts(ck *torchfile.Checkpoint) (*parts, error) {
	p := &parts{ck: ck, tensors: map[string]*torchfile.Tensor{}, original: map[string]string{}}
	for name, t := range ck.Tensors {
		short := dataParallel.ReplaceAllString(name, "$1")
		p.tensors[short], p.original[short] = t, name
	}
	switch {
	case p.tensors["decoder.fc.weight"] != nil:
		p.decoder = "decoder."
	case p.tensors["fc.weight"] != nil && p.tensors["decode_step.weight_ih"] != nil:
		p.decoder = ""
	default:
		return nil, fmt.Errorf("no decoder of the tutorial's (DecoderWithAttention: decoder.fc.weight, decoder.decode_step.weight_ih, …) in it; it holds %s", ck.Describe())
	}
	var missing []string
	for _, k := range decoderKeys {
		if p.tensors[p.decoder+k] == nil {
			missing = append(missing, p.decoder+k)
		}
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("its decoder lacks %s (not the tutorial's DecoderWithAttention?); it holds %s", strings.Join(missing, ", "), ck.Describe())
	}
	if p.tensors["encoder.resnet.0.weight"] != nil {
		p.encoder, p.encoderPresent = "encoder.resnet.", true
	}
	return p, nil
}

// sizes are the decoder's sizes read from its tensors' shapes.
type sizes struct {
	vocab, embed, hidden, attention, channels int
}

func (p *parts) sizes() (sizes, error) {
	get := func(k string) []int { return p.tensors[p.decoder+k].Shape }
	emb, initH, att := get("embedding.weight"), get("init_h.weight"), get("attention.encoder_att.weight")
	if len(emb) != 2 || len(initH) != 2 || len(att) != 2 {
		return sizes{}, fmt.Errorf("decoder tensors of unexpected rank: embedding %v, init_h %v, encoder_att %v", emb, initH, att)
	}
	s := sizes{vocab: emb[0], embed: emb[1], hidden: initH[0], channels: initH[1], attention: att[0]}
	want := map[string][]int{
		"attention.encoder_att.bias": {s.attention}, "attention.decoder_att.weight": {s.attention, s.hidden},
		"attention.decoder_att.bias": {s.attention}, "attention.full_att.weight": {1, s.attention}, "attention.full_att.bias": {1},
		"attention.encoder_att.weight": {s.attention, s.channels},
		"decode_step.weight_ih":        {4 * s.hidden, s.embed + s.channels}, "decode_step.weight_hh": {4 * s.hidden, s.hidden},
		"decode_step.bias_ih": {4 * s.hidden}, "decode_step.bias_hh": {4 * s.hidden},
		"init_h.bias": {s.hidden}, "init_c.weight": {s.hidden, s.channels}, "init_c.bias": {s.hidden},
		"f_beta.weight": {s.channels, s.hidden}, "f_beta.bias": {s.channels}, "fc.weight": {s.vocab, s.hidden}, "fc.bias": {s.vocab},
	}
	for k, shape := range want {
		t := p.tensors[p.decoder+k]
		if !slices.Equal(t.Shape, shape) {
			return sizes{}, fmt.Errorf("decoder tensor %s has shape %v; with vocabulary %d, embedding %d, hidden %d, attention %d and %d encoder channels it should be %v",
				p.decoder+k, t.Shape, s.vocab, s.embed, s.hidden, s.attention, s.channels, shape)
		}
		if t.Float == nil {
			return sizes{}, fmt.Errorf("decoder tensor %s is %s, not floating point", p.decoder+k, t.DType)
		}
	}
	return s, nil
}

// decoderVariables maps the decoder's tensors to attncap's LSTM decoder variables (store path
// → value): nn.Linear weights [out, in] transposed to Dense's [in, out]; the LSTMCell's W_ih and
// W_hh stacked into the one gate product over [x; h] (PyTorch's gate order i, f, g, o is
// attncap's) with b_ih + b_hh as its bias; the embedding's and fc's rows reordered to attncap's
// ids (perm[attncapID] = the word map's id).
func (p *parts) decoderVariables(s sizes, perm []int) map[string]*tensors.Tensor {
	get := func(k string) *torchfile.Tensor { return p.tensors[p.decoder+k] }
	out := map[string]*tensors.Tensor{}
	dense := func(scope, key string) {
		w, b := get(key+".weight"), get(key+".bias")
		out["/decoder/"+scope+"/dense/weights"] = transposed(w.Float, w.Shape[0], w.Shape[1], nil)
		out["/decoder/"+scope+"/dense/biases"] = tensors.FromFlatDataAndDimensions(append([]float32(nil), b.Float...), b.Shape[0])
	}
	dense("init_h", "init_h")
	dense("init_c", "init_c")
	dense("attention_enc", "attention.encoder_att")
	dense("attention_dec", "attention.decoder_att")
	dense("attention_score", "attention.full_att")
	dense("gate", "f_beta")

	emb := get("embedding.weight").Float
	table := make([]float32, 0, len(emb))
	for _, id := range perm {
		table = append(table, emb[id*s.embed:(id+1)*s.embed]...)
	}
	out["/decoder/embedding/embeddings"] = tensors.FromFlatDataAndDimensions(table, s.vocab, s.embed)

	fcW, fcB := get("fc.weight"), get("fc.bias").Float
	out["/decoder/output/dense/weights"] = transposed(fcW.Float, s.vocab, s.hidden, perm)
	bias := make([]float32, s.vocab)
	for i, id := range perm {
		bias[i] = fcB[id]
	}
	out["/decoder/output/dense/biases"] = tensors.FromFlatDataAndDimensions(bias, s.vocab)

	// One product over [x; h]: rows 0 … E+C−1 are W_ihᵀ, then H rows of W_hhᵀ.
	in := s.embed + s.channels
	wih, whh := get("decode_step.weight_ih").Float, get("decode_step.weight_hh").Float
	gates := make([]float32, (in+s.hidden)*4*s.hidden)
	for o := 0; o < 4*s.hidden; o++ {
		for i := 0; i < in; i++ {
			gates[i*4*s.hidden+o] = wih[o*in+i]
		}
		for i := 0; i < s.hidden; i++ {
			gates[(in+i)*4*s.hidden+o] = whh[o*s.hidden+i]
		}
	}
	out["/decoder/lstm/dense/weights"] = tensors.FromFlatDataAndDimensions(gates, in+s.hidden, 4*s.hidden)
	bih, bhh := get("decode_step.bias_ih").Float, get("decode_step.bias_hh").Float
	gb := make([]float32, 4*s.hidden)
	for i := range gb {
		gb[i] = bih[i] + bhh[i]
	}
	out["/decoder/lstm/dense/biases"] = tensors.FromFlatDataAndDimensions(gb, 4*s.hidden)
	return out
}

// transposed turns a row-major [rows, cols] matrix into a [cols, rows] tensor, taking the rows
// in the order of perm when it is not nil.
func transposed(w []float32, rows, cols int, perm []int) *tensors.Tensor {
	t := tensors.FromShape(shapes.Make(dtypes.Float32, cols, rows))
	tensors.MustMutableFlatData(t, func(out []float32) {
		for r := 0; r < rows; r++ {
			src := r
			if perm != nil {
				src = perm[r]
			}
			for c := 0; c < cols; c++ {
				out[c*rows+r] = w[src*cols+c]
			}
		}
	})
	return t
}

// stagePrefix maps torchvision's top-level ResNet names to the tutorial's nn.Sequential indices.
var stagePrefix = map[string]string{"conv1": "0", "bn1": "1", "layer1": "4", "layer2": "5", "layer3": "6", "layer4": "7"}

// tutorialName is the tutorial's name of a torchvision ResNet tensor ("layer1.0.conv1.weight" →
// "4.0.conv1.weight"), without the encoder's prefix.
func tutorialName(name string) string {
	head, rest, _ := strings.Cut(name, ".")
	if idx, ok := stagePrefix[head]; ok {
		return idx + "." + rest
	}
	return name
}

// resnetWeights serves the checkpoint's ResNet under torchvision's names
// (encoder.WeightSource).
type resnetWeights struct {
	p    *parts
	file string
}

func (r resnetWeights) Weight(name string, shape []int) ([]float32, error) {
	key := r.p.encoder + tutorialName(name)
	t := r.p.tensors[key]
	switch {
	case t == nil:
		return nil, fmt.Errorf("checkpoint %s: encoder tensor %s missing", r.file, key)
	case !slices.Equal(t.Shape, shape):
		return nil, fmt.Errorf("checkpoint %s: encoder tensor %s has shape %v, want %v", r.file, key, t.Shape, shape)
	case t.Float == nil:
		return nil, fmt.Errorf("checkpoint %s: encoder tensor %s is %s, not floating point", r.file, key, t.DType)
	}
	r.p.release(key)
	return t.Float, nil
}

// release forgets a tensor once it has been converted, so that the checkpoint's memory is
// freed as the model's grows.
func (p *parts) release(key string) {
	delete(p.ck.Tensors, p.original[key])
	delete(p.tensors, key)
}

// has reports whether the checkpoint holds the torchvision-named ResNet tensor.
func (r resnetWeights) has(name string) bool {
	return r.p.tensors[r.p.encoder+tutorialName(name)] != nil
}

// gridSize is the encoder's adaptive pooling size, from a whole pickled Encoder (its
// adaptive_pool's output_size, or enc_image_size), else def.
func gridSize(ck *torchfile.Checkpoint, def int) int {
	for _, k := range []string{"encoder.adaptive_pool.output_size", "encoder.module.adaptive_pool.output_size", "encoder.enc_image_size"} {
		switch v := ck.Values[k].(type) {
		case []any:
			if len(v) == 2 {
				if n, ok := asInt(v[0]); ok {
					return n
				}
			}
		default:
			if n, ok := asInt(v); ok {
				return n
			}
		}
	}
	return def
}

// dropout is the decoder's dropout rate from a whole pickled decoder, else def.
func dropout(ck *torchfile.Checkpoint, def float64) float64 {
	for _, k := range []string{"decoder.dropout.p", "decoder.module.dropout.p"} {
		if p, ok := ck.Values[k].(float64); ok && p >= 0 && p < 1 {
			return p
		}
	}
	return def
}

func asInt(v any) (int, bool) {
	switch n := v.(type) {
	case int:
		return n, true
	case int64:
		return int(n), true
	case string:
		i, err := strconv.Atoi(n)
		return i, err == nil
	}
	return 0, false
}
