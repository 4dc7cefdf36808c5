// Package torchfile reads the files PyTorch's torch.save writes — the zip format (torch ≥ 1.6)
// and the legacy one (torch 0.4–1.5) — in Go, through github.com/nlpodyssey/gopickle, without
// running Python. It flattens what a training checkpoint holds into tensors by dotted name:
// state_dicts (nested dicts of tensors), and modules pickled whole, walked through their
// parameters, buffers and submodules as nn.Module.state_dict() would name them. Objects it
// does not walk (optimizers, other classes) are listed by class, never executed.
package torchfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"
	"strings"

	"github.com/nlpodyssey/gopickle/pickle"
	"github.com/nlpodyssey/gopickle/pytorch"
	"github.com/nlpodyssey/gopickle/types"
)

// Tensor is one tensor of a checkpoint, contiguous in row-major order: Float holds the values
// of floating-point tensors (float16 and bfloat16 widened, float64 narrowed to float32), Int
// those of integer and bool tensors.
type Tensor struct {
	Shape []int
	DType string // PyTorch's name: float32, float64, float16, bfloat16, int64, int32, int16, int8, uint8, bool
	Float []float32
	Int   []int64
}

// Checkpoint is what a torch.save file holds.
type Checkpoint struct {
	// Tensors by dotted name: a state_dict's own keys, prefixed by the keys of the dicts and the
	// names of the modules that hold them ("decoder.fc.weight").
	Tensors map[string]*Tensor
	// Values are the other plain values by dotted name (numbers, strings, booleans, None as nil).
	Values map[string]any
	// Modules are the modules pickled whole, by dotted name, with their class
	// ("models.DecoderWithAttention").
	Modules map[string]string
	// Objects are the other pickled objects by dotted name, with their class
	// ("torch.optim.adam.Adam"): read, not walked.
	Objects map[string]string
	// Format is "zip" or "legacy".
	Format string
}

// Load reads a torch.save file. Errors name the file; a file that is not one says what
// torch.save files are.
func Load(path string) (*Checkpoint, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	head := make([]byte, 4)
	_, err = io.ReadFull(f, head)
	f.Close()
	if err != nil {
		return nil, fmt.Errorf("%s: not a PyTorch file (torch.save writes a zip archive or a legacy pickle): %w", path, err)
	}
	format := "legacy"
	if string(head) == "PK\x03\x04" {
		format = "zip"
	}
	obj, err := pytorch.LoadWithUnpickler(path, func(r io.Reader) pickle.Unpickler {
		u := pickle.NewUnpickler(r)
		u.FindClass = findClass
		return u
	})
	if err != nil {
		return nil, fmt.Errorf("%s: not a PyTorch file that can be read (torch.save writes a zip archive or a legacy pickle): %w", path, err)
	}
	c := &Checkpoint{Tensors: map[string]*Tensor{}, Values: map[string]any{}, Modules: map[string]string{}, Objects: map[string]string{}, Format: format}
	if err := c.walk("", obj); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Names lists the checkpoint's tensor names, sorted.
func (c *Checkpoint) Names() []string {
	names := make([]string, 0, len(c.Tensors))
	for n := range c.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Object is a pickled instance of a class torchfile does not know: its class, the attributes
// the pickle set (its __dict__), the arguments it was called with, and the items or elements a
// dict or list subclass (collections.defaultdict, say) was given.
type Object struct {
	Class    string
	Dict     map[string]any
	State    any
	Items    []any // key, value, key, value, … in the order set
	Elements []any
}

// Set adds a dict item, as unpickling fills a dict subclass.
func (o *Object) Set(key, value any) { o.Items = append(o.Items, key, value) }

// Append adds a list element, as unpickling fills a list subclass.
func (o *Object) Append(v any) { o.Elements = append(o.Elements, v) }

// PyDictSet sets an attribute, as unpickling fills __dict__.
func (o *Object) PyDictSet(key, value any) error {
	k, ok := key.(string)
	if !ok {
		return fmt.Errorf("%s: attribute name %v is not a string", o.Class, key)
	}
	o.Dict[k] = value
	return nil
}

// class is a class torchfile does not know: calling or instantiating it gives an Object.
type class struct{ name string }

func (c *class) PyNew(args ...any) (any, error) {
	return &Object{Class: c.name, Dict: map[string]any{}}, nil
}
func (c *class) Call(args ...any) (any, error) {
	return &Object{Class: c.name, Dict: map[string]any{}, State: args}, nil
}

// rebuildParameter is torch._utils._rebuild_parameter(data, requires_grad, hooks): the
// parameter is its data.
type rebuildParameter struct{}

func (rebuildParameter) Call(args ...any) (any, error) {
	if len(args) == 0 {
		return nil, errors.New("_rebuild_parameter without data")
	}
	return args[0], nil
}

// findClass resolves the classes a pickle names beyond the tensors and storages gopickle's
// pytorch package knows: parameters become their tensors; any other class becomes a class whose
// instances are Objects (nothing is executed).
func findClass(module, name string) (any, error) {
	if module+"."+name == "torch._utils._rebuild_parameter" {
		return rebuildParameter{}, nil
	}
	return &class{name: module + "." + name}, nil
}

var (
	_ types.PyDictSettable = (*Object)(nil)
	_ types.DictSetter     = (*Object)(nil)
	_ types.ListAppender   = (*Object)(nil)
	_ types.PyNewable      = (*class)(nil)
	_ types.Callable       = (*class)(nil)
	_ types.Callable       = rebuildParameter{}
)

// walk flattens v under the dotted name prefix.
func (c *Checkpoint) walk(prefix string, v any) error {
	switch x := v.(type) {
	case *pytorch.Tensor:
		t, err := contiguous(x)
		if err != nil {
			return fmt.Errorf("tensor %q: %w", prefix, err)
		}
		c.Tensors[prefix] = t
	case *types.Dict:
		for _, e := range *x {
			if err := c.walkEntry(prefix, e.Key, e.Value); err != nil {
				return err
			}
		}
	case *types.OrderedDict:
		for _, e := range entries(x) {
			if err := c.walkEntry(prefix, e.Key, e.Value); err != nil {
				return err
			}
		}
	case *Object:
		if isModule(x) {
			c.Modules[prefix] = x.Class
			return c.walkModule(prefix, x)
		}
		c.Objects[prefix] = x.Class
	case nil, bool, int, int64, float64, string, *types.Tuple, *types.List:
		c.Values[prefix] = plain(x)
	default:
		c.Objects[prefix] = fmt.Sprintf("%T", x)
	}
	return nil
}

// walkEntry walks one dict entry; keys that are not strings or numbers cannot name tensors.
func (c *Checkpoint) walkEntry(prefix string, key, value any) error {
	var k string
	switch kk := key.(type) {
	case string:
		k = kk
	case int, int64:
		k = fmt.Sprint(kk)
	default:
		return fmt.Errorf("%q: a dict key of type %T", prefix, key)
	}
	return c.walk(join(prefix, k), value)
}

// isModule says whether o is an nn.Module pickled whole: its __dict__ holds _parameters,
// _buffers and _modules.
func isModule(o *Object) bool {
	_, p := o.Dict["_parameters"]
	_, m := o.Dict["_modules"]
	return p && m
}

// walkModule names a module's tensors as state_dict() does: its parameters, then its buffers
// (except those in _non_persistent_buffers_set), then each submodule's under its name. The
// module's own plain attributes (an nn.Dropout's p, an nn.AdaptiveAvgPool2d's output_size)
// go to Values under its name.
func (c *Checkpoint) walkModule(prefix string, o *Object) error {
	for k, v := range o.Dict {
		switch v.(type) {
		case bool, int, int64, float64, string, *types.Tuple, *types.List:
			if !strings.HasPrefix(k, "_") {
				c.Values[join(prefix, k)] = plain(v)
			}
		}
	}
	for _, part := range []string{"_parameters", "_buffers", "_modules"} {
		d, ok := o.Dict[part].(*types.OrderedDict)
		if !ok {
			continue
		}
		for _, e := range entries(d) {
			name, _ := e.Key.(string)
			if e.Value == nil {
				continue // a parameter set to None (e.g. a bias=False layer's bias)
			}
			if err := c.walk(join(prefix, name), e.Value); err != nil {
				return err
			}
		}
	}
	return nil
}

// entries are an OrderedDict's entries in order.
func entries(d *types.OrderedDict) []*types.OrderedDictEntry {
	var out []*types.OrderedDictEntry
	for el := d.List.Front(); el != nil; el = el.Next() {
		out = append(out, el.Value.(*types.OrderedDictEntry))
	}
	return out
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// plain is a scalar or a tuple/list of scalars as Go values.
func plain(v any) any {
	switch x := v.(type) {
	case *types.Tuple:
		out := make([]any, x.Len())
		for i := range out {
			out[i] = plain(x.Get(i))
		}
		return out
	case *types.List:
		out := make([]any, x.Len())
		for i := range out {
			out[i] = plain(x.Get(i))
		}
		return out
	}
	return v
}

// contiguous copies t's elements (its size, strides and storage offset applied) in row-major
// order.
func contiguous(t *pytorch.Tensor) (*Tensor, error) {
	n := 1
	for _, d := range t.Size {
		n *= d
	}
	out := &Tensor{Shape: append([]int{}, t.Size...)}
	index := func(i int) int { // storage index of the i-th element in row-major order
		at := t.StorageOffset
		for k := len(t.Size) - 1; k >= 0; k-- {
			at += (i % t.Size[k]) * t.Stride[k]
			i /= t.Size[k]
		}
		return at
	}
	switch s := t.Source.(type) {
	case *pytorch.FloatStorage:
		if isWholeStorage(t, n, len(s.Data)) {
			out.DType, out.Float = "float32", s.Data // no copy: a weight usually owns its storage
			break
		}
		out.DType, out.Float = "float32", gatherValues(s.Data, n, index, func(v float32) float32 { return v })
	case *pytorch.DoubleStorage:
		out.DType, out.Float = "float64", gatherValues(s.Data, n, index, func(v float64) float32 { return float32(v) })
	case *pytorch.HalfStorage:
		out.DType, out.Float = "float16", gatherValues(s.Data, n, index, func(v float32) float32 { return v })
	case *pytorch.BFloat16Storage:
		out.DType, out.Float = "bfloat16", gatherValues(s.Data, n, index, func(v float32) float32 { return v })
	case *pytorch.LongStorage:
		out.DType, out.Int = "int64", gatherValues(s.Data, n, index, func(v int64) int64 { return v })
	case *pytorch.IntStorage:
		out.DType, out.Int = "int32", gatherValues(s.Data, n, index, func(v int32) int64 { return int64(v) })
	case *pytorch.ShortStorage:
		out.DType, out.Int = "int16", gatherValues(s.Data, n, index, func(v int16) int64 { return int64(v) })
	case *pytorch.CharStorage:
		out.DType, out.Int = "int8", gatherValues(s.Data, n, index, func(v int8) int64 { return int64(v) })
	case *pytorch.ByteStorage:
		out.DType, out.Int = "uint8", gatherValues(s.Data, n, index, func(v uint8) int64 { return int64(v) })
	case *pytorch.BoolStorage:
		out.DType, out.Int = "bool", gatherValues(s.Data, n, index, func(v bool) int64 {
			if v {
				return 1
			}
			return 0
		})
	default:
		return nil, fmt.Errorf("storage of type %T", t.Source)
	}
	return out, nil
}

// isWholeStorage says whether t is the whole of its storage of size elements, in row-major
// order: its n elements from offset 0 with the strides of a contiguous tensor.
func isWholeStorage(t *pytorch.Tensor, n, size int) bool {
	if t.StorageOffset != 0 || n != size {
		return false
	}
	stride := 1
	for k := len(t.Size) - 1; k >= 0; k-- {
		if t.Size[k] != 1 && t.Stride[k] != stride {
			return false
		}
		stride *= t.Size[k]
	}
	return true
}

// gatherValues converts the n elements at storage indices index(0 … n−1) of data.
func gatherValues[S, D any](data []S, n int, index func(int) int, convert func(S) D) []D {
	out := make([]D, n)
	for i := range out {
		out[i] = convert(data[index(i)])
	}
	return out
}

// Describe lists what a checkpoint holds, for messages about a file that is not what a caller
// wanted: its top-level names, module and object classes, and a few tensor names.
func (c *Checkpoint) Describe() string {
	var parts []string
	top := map[string]bool{}
	for _, names := range [][]string{c.Names(), keysOf(c.Values), keysOf(c.Modules), keysOf(c.Objects)} {
		for _, n := range names {
			if k, _, _ := strings.Cut(n, "."); k != "" {
				top[k] = true
			}
		}
	}
	if len(top) > 0 {
		parts = append(parts, "top-level keys "+strings.Join(keysOf(top), ", "))
	}
	if len(c.Modules) > 0 {
		parts = append(parts, "modules "+describeMap(c.Modules))
	}
	if len(c.Objects) > 0 {
		parts = append(parts, "objects "+describeMap(c.Objects))
	}
	names := c.Names()
	switch {
	case len(names) == 0:
		parts = append(parts, "no tensors")
	case len(names) == 1 && names[0] == "":
		parts = append(parts, "one bare tensor")
	default:
		if len(names) > 6 {
			names = append(names[:6], fmt.Sprintf("… (%d tensors)", len(c.Tensors)))
		}
		parts = append(parts, "tensors "+strings.Join(names, ", "))
	}
	return strings.Join(parts, "; ")
}

// keysOf is a map's keys, sorted.
func keysOf[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func describeMap(m map[string]string) string {
	keys := keysOf(m)
	for i, k := range keys {
		keys[i] = k + " (" + m[k] + ")"
	}
	return strings.Join(keys, ", ")
}
