// Package safetensors reads and writes the safetensors format (an 8-byte little-endian header
// length, a JSON header naming each tensor's dtype, shape and byte range, then the raw
// little-endian data). Files are memory-mapped for reading, so a tensor's bytes are copied once,
// straight from the page cache into wherever the caller puts them.
//
// go-huggingface's safetensors package reads files of a hub repository; attncap also needs to
// read any file a user names, check it strictly with errors that name the file and tensor, and
// write feature files with metadata — hence this small package.
package safetensors

import (
	"encoding/binary"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"os"
	"sort"

	"github.com/attncap/attncap/internal/atomicfile"
	"github.com/edsrzf/mmap-go"
)

// maxHeaderSize bounds the JSON header, so that a corrupt length never allocates gigabytes.
const maxHeaderSize = 100 << 20

// dtypeSizes are the element sizes of the dtypes safetensors defines.
var dtypeSizes = map[string]int{
	"BOOL": 1, "U8": 1, "I8": 1, "F8_E4M3": 1, "F8_E5M2": 1,
	"I16": 2, "U16": 2, "F16": 2, "BF16": 2,
	"I32": 4, "U32": 4, "F32": 4, "I64": 8, "U64": 8, "F64": 8,
}

// TensorInfo describes one tensor of a file.
type TensorInfo struct {
	DType       string `json:"dtype"`
	Shape       []int  `json:"shape"`
	DataOffsets [2]int `json:"data_offsets"`
}

// File is an open, memory-mapped safetensors file.
type File struct {
	Path     string
	Metadata map[string]string
	Tensors  map[string]TensorInfo

	f    *os.File
	mm   mmap.MMap
	data []byte // the data section (a slice of mm)
}

// Open maps a safetensors file and validates its header: every tensor's byte range must lie in
// the file and match its dtype and shape. Errors name the file and say what is wrong (not a
// safetensors file, truncated, bad tensor entry).
func Open(path string) (*File, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	sf, err := parse(path, f)
	if err != nil {
		f.Close()
		return nil, err
	}
	return sf, nil
}

func parse(path string, f *os.File) (*File, error) {
	info, err := f.Stat()
	if err != nil {
		return nil, fmt.Errorf("safetensors %s: %w", path, err)
	}
	size := info.Size()
	var lenBuf [8]byte
	if _, err := io.ReadFull(f, lenBuf[:]); err != nil {
		return nil, fmt.Errorf("safetensors %s: file of %d bytes is too short to be a safetensors file", path, size)
	}
	headerLen := binary.LittleEndian.Uint64(lenBuf[:])
	if headerLen < 2 || headerLen > maxHeaderSize || int64(headerLen) > size-8 {
		return nil, fmt.Errorf("safetensors %s: header length %d does not fit a %d-byte file: not a safetensors file, or truncated", path, headerLen, size)
	}
	header := make([]byte, headerLen)
	if _, err := io.ReadFull(f, header); err != nil {
		return nil, fmt.Errorf("safetensors %s: reading header: %w", path, err)
	}
	var raw map[string]json.RawMessage
	if err := json.Unmarshal(header, &raw); err != nil {
		return nil, fmt.Errorf("safetensors %s: header is not JSON (not a safetensors file?): %w", path, err)
	}
	sf := &File{Path: path, Tensors: map[string]TensorInfo{}, f: f}
	dataLen := size - 8 - int64(headerLen)
	for name, msg := range raw {
		if name == "__metadata__" {
			if err := json.Unmarshal(msg, &sf.Metadata); err != nil {
				return nil, fmt.Errorf("safetensors %s: __metadata__ is not a string map: %w", path, err)
			}
			continue
		}
		var ti TensorInfo
		if err := json.Unmarshal(msg, &ti); err != nil {
			return nil, fmt.Errorf("safetensors %s: tensor %q: bad header entry: %w", path, name, err)
		}
		elem, ok := dtypeSizes[ti.DType]
		if !ok {
			return nil, fmt.Errorf("safetensors %s: tensor %q: unknown dtype %q", path, name, ti.DType)
		}
		n := int64(elem)
		for _, d := range ti.Shape {
			if d < 0 {
				return nil, fmt.Errorf("safetensors %s: tensor %q: negative dimension in shape %v", path, name, ti.Shape)
			}
			n *= int64(d)
		}
		start, end := int64(ti.DataOffsets[0]), int64(ti.DataOffsets[1])
		if start < 0 || end < start || end-start != n {
			return nil, fmt.Errorf("safetensors %s: tensor %q: byte range [%d, %d) does not hold %s%v (%d bytes)", path, name, start, end, ti.DType, ti.Shape, n)
		}
		if end > dataLen {
			return nil, fmt.Errorf("safetensors %s: tensor %q ends at byte %d of a %d-byte data section: file truncated", path, name, end, dataLen)
		}
		sf.Tensors[name] = ti
	}
	if size > 0 {
		mm, err := mmap.Map(f, mmap.RDONLY, 0)
		if err != nil {
			return nil, fmt.Errorf("safetensors %s: %w", path, err)
		}
		sf.mm = mm
		sf.data = mm[8+headerLen:]
	}
	return sf, nil
}

// Close unmaps and closes the file; byte slices returned by Bytes are invalid afterwards.
func (sf *File) Close() error {
	var err error
	if sf.mm != nil {
		err = sf.mm.Unmap()
		sf.mm, sf.data = nil, nil
	}
	if cerr := sf.f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Names lists the tensor names in sorted order.
func (sf *File) Names() []string {
	names := make([]string, 0, len(sf.Tensors))
	for n := range sf.Tensors {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// Bytes returns the raw little-endian bytes of a tensor, backed by the mapped file (no copy).
func (sf *File) Bytes(name string) (TensorInfo, []byte, error) {
	ti, ok := sf.Tensors[name]
	if !ok {
		return ti, nil, fmt.Errorf("safetensors %s: no tensor %q", sf.Path, name)
	}
	return ti, sf.data[ti.DataOffsets[0]:ti.DataOffsets[1]], nil
}

// Float32s decodes an F32 tensor into a new slice.
func (sf *File) Float32s(name string) (TensorInfo, []float32, error) {
	ti, b, err := sf.Bytes(name)
	if err != nil {
		return ti, nil, err
	}
	if ti.DType != "F32" {
		return ti, nil, fmt.Errorf("safetensors %s: tensor %q is %s, want F32", sf.Path, name, ti.DType)
	}
	out := make([]float32, len(b)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	return ti, out, nil
}

// Tensor is one tensor to write: Data is []float32 (F32) or []int32 (I32), or Raw holds
// little-endian bytes of DType, or WriteRaw streams its Size bytes of DType (a tensor that need
// not be copied to be written).
type Tensor struct {
	Name     string
	Shape    []int
	Data     any
	DType    string
	Raw      []byte
	Size     int
	WriteRaw func(w io.Writer) error
}

// Write writes tensors and metadata to path as a safetensors file, atomically, streaming the
// tensors' bytes to the file rather than assembling it in memory.
func Write(path string, tensors []Tensor, metadata map[string]string) error {
	header := map[string]any{}
	if len(metadata) > 0 {
		header["__metadata__"] = metadata
	}
	offset := 0
	for i, t := range tensors {
		dtype, size := t.DType, 0
		switch d := t.Data.(type) {
		case nil:
			if _, ok := dtypeSizes[dtype]; !ok {
				return fmt.Errorf("safetensors %s: tensor %q: unknown dtype %q", path, t.Name, dtype)
			}
			size = len(t.Raw)
			if t.WriteRaw != nil {
				size = t.Size
			}
		case []float32:
			dtype, size = "F32", 4*len(d)
		case []int32:
			dtype, size = "I32", 4*len(d)
		default:
			return fmt.Errorf("safetensors %s: tensor %q: unsupported data type %T", path, t.Name, t.Data)
		}
		tensors[i].DType = dtype
		header[t.Name] = TensorInfo{DType: dtype, Shape: t.Shape, DataOffsets: [2]int{offset, offset + size}}
		offset += size
	}
	h, err := json.Marshal(header)
	if err != nil {
		return err
	}
	for len(h)%8 != 0 { // pad with spaces so the data section is 8-byte aligned
		h = append(h, ' ')
	}
	return atomicfile.Write(path, func(w io.Writer) error {
		if _, err := w.Write(append(binary.LittleEndian.AppendUint64(nil, uint64(len(h))), h...)); err != nil {
			return err
		}
		for _, t := range tensors {
			if err := writeTensor(w, t); err != nil {
				return fmt.Errorf("safetensors %s: tensor %q: %w", path, t.Name, err)
			}
		}
		return nil
	})
}

// writeTensor writes one tensor's little-endian bytes.
func writeTensor(w io.Writer, t Tensor) error {
	var buf []byte
	switch d := t.Data.(type) {
	case nil:
		if t.WriteRaw != nil {
			return t.WriteRaw(w)
		}
		_, err := w.Write(t.Raw)
		return err
	case []float32:
		buf = make([]byte, 0, 4*len(d))
		for _, v := range d {
			buf = binary.LittleEndian.AppendUint32(buf, math.Float32bits(v))
		}
	case []int32:
		buf = make([]byte, 0, 4*len(d))
		for _, v := range d {
			buf = binary.LittleEndian.AppendUint32(buf, uint32(v))
		}
	}
	_, err := w.Write(buf)
	return err
}
