package datasets

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/attncap/attncap/internal/jsonfile"
)

// idKind tells an integer COCOID from a string one; the zero kind is "no id".
type idKind uint8

const (
	noID idKind = iota
	intID
	stringID
)

// COCOID is an id in a COCO file: an image's "id", a caption's "id" and "image_id", a result's
// "image_id". COCO writes integers; other exports write strings ("dog_01"). pycocoevalcap
// compares ids as Python values, so an integer never matches a string: COCOID keeps the kind,
// and two COCOIDs are equal (==, map keys) when kind and value are.
//
// Integers are read from their digits, never through a float, and must fit in 64 bits (COCO's
// fit in 32). A number written with a zero fraction ("1.0", as exports of float columns write
// ids) is the integer it equals, as it is in Python (1.0 == 1). Other fractions ("1.5"),
// exponents ("1e3") and the empty string are refused. The zero COCOID means "no id"; it is
// what JSON null reads as, and it marshals as null.
type COCOID struct {
	kind idKind
	n    int64
	s    string
}

// IntID is the integer id n.
func IntID(n int64) COCOID { return COCOID{kind: intID, n: n} }

// StringID is the string id s.
func StringID(s string) COCOID { return COCOID{kind: stringID, s: s} }

// IsZero reports whether id is the zero COCOID, "no id".
func (id COCOID) IsZero() bool { return id.kind == noID }

// IsString reports whether id is a string id.
func (id COCOID) IsString() bool { return id.kind == stringID }

// Int returns an integer id's value; ok is false for a string id or no id.
func (id COCOID) Int() (n int64, ok bool) { return id.n, id.kind == intID }

// String writes an integer id in decimal and a string id quoted, as they appear in JSON.
func (id COCOID) String() string {
	switch id.kind {
	case intID:
		return strconv.FormatInt(id.n, 10)
	case stringID:
		return strconv.Quote(shorten(id.s, 60))
	}
	return "(no id)"
}

// kindName is "integer" or "string", for messages.
func (id COCOID) kindName() string {
	if id.kind == stringID {
		return "string"
	}
	return "integer"
}

// Less orders ids for messages: no id, then integers by value, then strings bytewise.
func (id COCOID) Less(o COCOID) bool {
	if id.kind != o.kind {
		return id.kind < o.kind
	}
	if id.kind == stringID {
		return id.s < o.s
	}
	return id.n < o.n
}

// MarshalJSON writes an integer id as a number, a string id as a string, no id as null.
func (id COCOID) MarshalJSON() ([]byte, error) {
	switch id.kind {
	case intID:
		return strconv.AppendInt(nil, id.n, 10), nil
	case stringID:
		return json.Marshal(id.s)
	}
	return []byte("null"), nil
}

// UnmarshalJSON reads an integer or a string (see COCOID); null leaves the id unchanged, as
// encoding/json's convention is. Other values are an error in plain words.
func (id *COCOID) UnmarshalJSON(data []byte) error {
	if string(bytes.TrimSpace(data)) == "null" {
		return nil
	}
	v, problem := parseCOCOID(data)
	if problem != "" {
		return fmt.Errorf("COCO id is %s", problem)
	}
	*id = v
	return nil
}

// parseCOCOID reads a raw JSON value as an id; problem says what is wrong with it otherwise,
// as a phrase that follows "is" ("a list, want an integer or a string").
func parseCOCOID(raw []byte) (id COCOID, problem string) {
	raw = bytes.TrimSpace(raw)
	switch kind := jsonfile.Kind(raw); kind {
	case "a string":
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return COCOID{}, "not a valid JSON string"
		}
		if s == "" {
			return COCOID{}, "an empty string, want an integer or a non-empty string"
		}
		return StringID(s), ""
	case "a number":
		return parseIntID(string(raw))
	default:
		return COCOID{}, kind + ", want an integer or a string"
	}
}

// parseIntID reads a JSON number as an integer id: digits, optionally with a zero fraction.
func parseIntID(lit string) (COCOID, string) {
	shown := shorten(lit, 40)
	if strings.ContainsAny(lit, "eE") {
		return COCOID{}, shown + ", a number with an exponent; write ids as integers or strings"
	}
	whole, frac, _ := strings.Cut(lit, ".")
	if strings.Trim(frac, "0") != "" {
		return COCOID{}, shown + ", not a whole number; ids are integers or strings"
	}
	n, err := strconv.ParseInt(whole, 10, 64)
	if err != nil {
		if ne, ok := err.(*strconv.NumError); ok && ne.Err == strconv.ErrRange {
			return COCOID{}, shown + ", beyond 64-bit integers; write such ids as strings"
		}
		return COCOID{}, shown + ", not a valid number"
	}
	return IntID(n), ""
}

// shorten cuts s to at most n bytes (at a rune boundary), marking the cut with "…".
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
