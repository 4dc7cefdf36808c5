package jpegdec

import "fmt"

// huffman is a canonical Huffman table (T.81 annex C): a 9-bit lookup for short codes, and
// per length the largest code and where its symbols start for longer ones.
type huffman struct {
	lookup  [1 << lookupBits]uint16 // length<<8 | symbol; 0 when the code is longer
	maxcode [18]int32               // largest code of each length, −1 when none
	valptr  [17]int32               // index in symbols of the first code of each length
	mincode [17]int32
	symbols []byte
}

const lookupBits = 9

func newHuffman(counts [16]int, symbols []byte) *huffman {
	h := &huffman{symbols: append([]byte(nil), symbols...)}
	code, k := int32(0), int32(0)
	for l := 1; l <= 16; l++ {
		n := int32(counts[l-1])
		h.valptr[l], h.mincode[l] = k, code
		if n == 0 {
			h.maxcode[l] = -1
		} else {
			h.maxcode[l] = code + n - 1
			if l <= lookupBits {
				for i := int32(0); i < n; i++ {
					first := (code + i) << (lookupBits - l)
					for j := int32(0); j < 1<<(lookupBits-l); j++ {
						h.lookup[first+j] = uint16(l)<<8 | uint16(symbols[k+i])
					}
				}
			}
		}
		code, k = (code+n)<<1, k+n
	}
	h.maxcode[17] = 1 << 30 // sentinel
	return h
}

// bitReader reads entropy-coded bits, unstuffing 0xFF00; at a marker it supplies zeros, as
// libjpeg does for a corrupt or truncated stream.
type bitReader struct {
	data   []byte
	pos    int
	acc    uint64
	n      int
	marker bool // a marker (or the end) was reached
}

func (b *bitReader) fill() {
	for b.n <= 56 {
		var c byte
		if !b.marker && b.pos < len(b.data) {
			c = b.data[b.pos]
			if c == 0xFF {
				if b.pos+1 < len(b.data) && b.data[b.pos+1] == 0x00 {
					b.pos += 2
				} else {
					b.marker, c = true, 0
				}
			} else {
				b.pos++
			}
		} else {
			b.marker = true
		}
		b.acc |= uint64(c) << (56 - b.n)
		b.n += 8
	}
}

func (b *bitReader) bits(n int) int32 {
	if n == 0 {
		return 0
	}
	if b.n < n {
		b.fill()
	}
	v := int32(b.acc >> (64 - n))
	b.acc <<= n
	b.n -= n
	return v
}

func (b *bitReader) bit() int32 { return b.bits(1) }

// extend turns n received bits into the signed value they code (T.81 F.2.2.1).
func extend(v int32, n int) int32 {
	if n == 0 {
		return 0
	}
	if v < 1<<(n-1) {
		return v - (1 << n) + 1
	}
	return v
}

func (b *bitReader) decode(h *huffman) (int, error) {
	if h == nil {
		return 0, fmt.Errorf("jpegdec: scan uses an undefined Huffman table")
	}
	if b.n < 16 {
		b.fill()
	}
	if e := h.lookup[b.acc>>(64-lookupBits)]; e != 0 {
		l := int(e >> 8)
		b.acc <<= l
		b.n -= l
		return int(e & 0xFF), nil
	}
	code := int32(0)
	for l := 1; l <= 16; l++ {
		code = code<<1 | b.bit()
		if h.maxcode[l] >= 0 && code <= h.maxcode[l] {
			return int(h.symbols[h.valptr[l]+code-h.mincode[l]]), nil
		}
	}
	return 0, fmt.Errorf("jpegdec: bad Huffman code")
}

// receive reads a magnitude category's s bits as a signed value.
func (b *bitReader) receive(s int) int32 { return extend(b.bits(s), s) }

// scan reads an SOS header and decodes its entropy-coded data up to the next marker.
func (d *decoder) scan() error {
	s, err := d.segment()
	if err != nil {
		return err
	}
	if !d.seenFrame || len(s) < 1 {
		return fmt.Errorf("jpegdec: scan before frame")
	}
	n := int(s[0])
	if n < 1 || n > 4 || len(s) < 1+2*n+3 {
		return fmt.Errorf("jpegdec: bad scan header")
	}
	var comps []*component
	for i := 0; i < n; i++ {
		id, tables := int(s[1+2*i]), s[2+2*i]
		var c *component
		for _, cc := range d.comps {
			if cc.id == id {
				c = cc
			}
		}
		if c == nil {
			return fmt.Errorf("jpegdec: scan names an unknown component")
		}
		c.td, c.ta = int(tables>>4)&3, int(tables&15)&3
		comps = append(comps, c)
	}
	ss, se := int(s[1+2*n]), int(s[2+2*n])
	ah, al := int(s[3+2*n]>>4), int(s[3+2*n]&15)
	if !d.progressive {
		ss, se, ah, al = 0, 63, 0, 0
	}
	if ss > se || se > 63 || (ss == 0 && se != 0 && d.progressive) || (ss > 0 && n != 1) {
		return fmt.Errorf("jpegdec: bad spectral selection")
	}
	d.bits = bitReader{data: d.data, pos: d.pos}
	d.eobrun = 0
	for _, c := range comps {
		c.dcPred = 0
	}
	block := d.blockDecoder(ss, se, ah, al)
	if err := d.scanBlocks(comps, block); err != nil {
		return err
	}
	// Skip what is left of the entropy-coded data (stuffed 0xFF00 and restart markers) up to
	// the next real marker.
	pos := d.bits.pos
	for pos+1 < len(d.data) {
		if m := d.data[pos+1]; d.data[pos] == 0xFF && m != 0x00 && m != 0xFF && (m < 0xD0 || m > 0xD7) {
			break
		}
		pos++
	}
	d.pos = pos
	return nil
}

// scanBlocks walks the scan's MCUs, handling restart markers, and decodes each block.
func (d *decoder) scanBlocks(comps []*component, block func(c *component, coef []int32) error) error {
	var mx, my int
	if len(comps) == 1 { // non-interleaved: one block per MCU, the component's own blocks only
		mx, my = comps[0].cbw, comps[0].cbh
	} else {
		mx, my = d.mcux, d.mcuy
	}
	mcus := 0
	for y := 0; y < my; y++ {
		for x := 0; x < mx; x++ {
			if d.restart > 0 && mcus > 0 && mcus%d.restart == 0 {
				d.restartMarker(comps)
			}
			mcus++
			if len(comps) == 1 {
				c := comps[0]
				i := (y*c.bw + x) * 64
				if err := block(c, c.coef[i:i+64]); err != nil {
					return err
				}
				continue
			}
			for _, c := range comps {
				for v := 0; v < c.v; v++ {
					for h := 0; h < c.h; h++ {
						i := ((y*c.v+v)*c.bw + x*c.h + h) * 64
						if err := block(c, c.coef[i:i+64]); err != nil {
							return err
						}
					}
				}
			}
		}
	}
	return nil
}

// restartMarker skips to the byte after the next RSTn marker and resets the decoder's state.
func (d *decoder) restartMarker(comps []*component) {
	b := &d.bits
	pos := b.pos
	for pos+1 < len(b.data) && !(b.data[pos] == 0xFF && b.data[pos+1] >= 0xD0 && b.data[pos+1] <= 0xD7) {
		if b.data[pos] == 0xFF && b.data[pos+1] != 0x00 && b.data[pos+1] != 0xFF {
			break // another marker: the restart is missing; go on reading zeros, as libjpeg does
		}
		pos++
	}
	if pos+1 < len(b.data) && b.data[pos] == 0xFF && b.data[pos+1] >= 0xD0 && b.data[pos+1] <= 0xD7 {
		pos += 2
		*b = bitReader{data: b.data, pos: pos}
	} else {
		*b = bitReader{data: b.data, pos: pos, marker: true}
	}
	for _, c := range comps {
		c.dcPred = 0
	}
	d.eobrun = 0
}

// blockDecoder returns the routine that decodes one block of a scan (T.81 F.2.2 for
// sequential scans, G.1.2 for progressive ones).
func (d *decoder) blockDecoder(ss, se, ah, al int) func(c *component, coef []int32) error {
	b := &d.bits
	switch {
	case !d.progressive:
		return func(c *component, coef []int32) error {
			t, err := b.decode(d.dc[c.td])
			if err != nil {
				return err
			}
			c.dcPred += b.receive(t)
			coef[0] = c.dcPred
			// A sequential scan's AC coefficients are a first pass over 1 … 63 at full
			// precision (its streams have no end-of-band runs, only EOB).
			return d.acFirst(c, coef, 1, 63, 0)
		}
	case ss == 0 && ah == 0: // DC, first pass
		return func(c *component, coef []int32) error {
			t, err := b.decode(d.dc[c.td])
			if err != nil {
				return err
			}
			c.dcPred += b.receive(t)
			coef[0] = c.dcPred << al
			return nil
		}
	case ss == 0: // DC, refinement
		return func(c *component, coef []int32) error {
			if b.bit() != 0 {
				coef[0] |= 1 << al
			}
			return nil
		}
	case ah == 0:
		return func(c *component, coef []int32) error { return d.acFirst(c, coef, ss, se, al) }
	default:
		return func(c *component, coef []int32) error { return d.acRefine(c, coef, ss, se, al) }
	}
}

// acFirst is a progressive scan's first pass over AC coefficients ss … se (G.1.2.2).
func (d *decoder) acFirst(c *component, coef []int32, ss, se, al int) error {
	b := &d.bits
	if d.eobrun > 0 {
		d.eobrun--
		return nil
	}
	for k := ss; k <= se; k++ {
		rs, err := b.decode(d.ac[c.ta])
		if err != nil {
			return err
		}
		r, s := rs>>4, rs&15
		if s == 0 {
			if r < 15 {
				d.eobrun = (1 << r) - 1
				if r > 0 {
					d.eobrun += int(b.bits(r))
				}
				break
			}
			k += 15
			continue
		}
		k += r
		if k > 63 {
			return fmt.Errorf("jpegdec: coefficient index out of range")
		}
		coef[zigzag[k]] = b.receive(s) * (1 << al)
	}
	return nil
}

// acRefine is a progressive scan's refinement of AC coefficients ss … se by one bit (G.1.2.3):
// coefficients already nonzero get a correction bit; newly nonzero ones are ±1 at this bit.
func (d *decoder) acRefine(c *component, coef []int32, ss, se, al int) error {
	b := &d.bits
	p1, m1 := int32(1)<<al, int32(-1)<<al
	refine := func(i int) {
		if b.bit() != 0 && coef[i]&p1 == 0 {
			if coef[i] >= 0 {
				coef[i] += p1
			} else {
				coef[i] += m1
			}
		}
	}
	k := ss
	if d.eobrun == 0 {
		for ; k <= se; k++ {
			rs, err := b.decode(d.ac[c.ta])
			if err != nil {
				return err
			}
			r, s := rs>>4, rs&15
			var value int32
			if s != 0 {
				if b.bit() != 0 {
					value = p1
				} else {
					value = m1
				}
			} else if r != 15 {
				d.eobrun = 1 << r
				if r > 0 {
					d.eobrun += int(b.bits(r))
				}
				break
			}
			// Skip r zero coefficients (refining the nonzero ones passed over), then place value.
			for ; k <= se; k++ {
				i := zigzag[k]
				if coef[i] != 0 {
					refine(i)
				} else {
					if r == 0 {
						break
					}
					r--
				}
			}
			if value != 0 && k <= se {
				coef[zigzag[k]] = value
			}
		}
	}
	if d.eobrun > 0 {
		for ; k <= se; k++ {
			if i := zigzag[k]; coef[i] != 0 {
				refine(i)
			}
		}
		d.eobrun--
	}
	return nil
}
