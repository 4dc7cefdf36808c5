// Package jsonfile turns encoding/json's errors about a file into plain messages: the file, the
// place (byte offset, line and column) and what was wrong in JSON's words (a list, an object),
// never Go's ("cannot unmarshal string into Go struct field").
package jsonfile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"
)

// Position is the 1-based line and column of a 0-based byte offset into data.
func Position(data []byte, offset int64) (line, column int) {
	offset = max(0, min(offset, int64(len(data))))
	before := data[:offset]
	line = bytes.Count(before, []byte{'\n'}) + 1
	column = int(offset) - (bytes.LastIndexByte(before, '\n') + 1) + 1
	return line, column
}

// at describes a byte offset of data: "byte offset 17 (line 2, column 5)".
func at(data []byte, offset int64) string {
	line, col := Position(data, offset)
	return fmt.Sprintf("byte offset %d (line %d, column %d)", offset, line, col)
}

// Check reports an empty file or one that is not valid JSON; want says what the file should
// hold, for the message about an empty file.
func Check(name string, data []byte, want string) error {
	if len(bytes.TrimSpace(data)) == 0 {
		return fmt.Errorf("%s: the file is empty; want %s", name, want)
	}
	if json.Valid(data) {
		return nil
	}
	var raw json.RawMessage
	return Describe(name, data, json.Unmarshal(data, &raw))
}

// Describe rewrites an error of json.Unmarshal(data, …) about the file named name: syntax
// errors and type mismatches name the place and the JSON kinds; other errors are prefixed
// with the file name. A nil error stays nil.
func Describe(name string, data []byte, err error) error {
	var syntax *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &syntax):
		return syntaxError(name, data, syntax)
	case errors.As(err, &typ):
		where := typ.Field
		if where == "" {
			where = "the top-level value"
		} else {
			where = fmt.Sprintf("%q", where)
		}
		return fmt.Errorf("%s: near %s: %s is %s, want %s", name, at(data, typ.Offset), where, valueKind(typ.Value), typeKind(typ.Type))
	}
	return fmt.Errorf("%s: %w", name, err)
}

// syntaxError names where the JSON breaks. The offset of a SyntaxError counts the bytes read,
// the bad one included.
func syntaxError(name string, data []byte, e *json.SyntaxError) error {
	if e.Offset >= int64(len(data)) && strings.Contains(e.Error(), "end of JSON input") {
		return fmt.Errorf("%s: not valid JSON: the file ends at %s in the middle of a value (cut short?)", name, at(data, int64(len(data))))
	}
	return fmt.Errorf("%s: not valid JSON at %s: %s", name, at(data, max(0, e.Offset-1)), e.Error())
}

// valueKind names the JSON kind json.UnmarshalTypeError.Value describes.
func valueKind(v string) string {
	switch {
	case v == "array":
		return "a list"
	case v == "object":
		return "an object"
	case v == "string":
		return "a string"
	case v == "bool":
		return "true or false"
	case strings.HasPrefix(v, "number"):
		if n := strings.TrimSpace(strings.TrimPrefix(v, "number")); n != "" {
			return "the number " + n
		}
		return "a number"
	}
	return v
}

// typeKind names the JSON kind a Go type is read from.
func typeKind(t reflect.Type) string {
	if t == nil {
		return "another kind of value"
	}
	switch t.Kind() {
	case reflect.Slice, reflect.Array:
		return "a list"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "an integer"
	case reflect.Float32, reflect.Float64:
		return "a number"
	case reflect.Pointer:
		return typeKind(t.Elem())
	}
	return "another kind of value"
}

// Kind names the JSON kind of a raw value: "an object", "a list", "a string", "a number",
// "true or false", "null".
func Kind(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return "nothing"
	}
	switch raw[0] {
	case '{':
		return "an object"
	case '[':
		return "a list"
	case '"':
		return "a string"
	case 't', 'f':
		return "true or false"
	case 'n':
		return "null"
	}
	return "a number"
}

// Object decodes raw as a JSON object into its members, undecoded; ok is false when raw is not
// an object.
func Object(raw []byte) (members map[string]json.RawMessage, ok bool) {
	if Kind(raw) != "an object" {
		return nil, false
	}
	if err := json.Unmarshal(raw, &members); err != nil {
		return nil, false
	}
	return members, true
}

// List decodes raw as a JSON list into its elements, undecoded; ok is false when raw is not a
// list.
func List(raw []byte) (elems []json.RawMessage, ok bool) {
	if Kind(raw) != "a list" {
		return nil, false
	}
	if err := json.Unmarshal(raw, &elems); err != nil {
		return nil, false
	}
	return elems, true
}

// Keys lists an object's member names, sorted and quoted, the first ten of them:
// `"bbox", "id"`, or "no members".
func Keys(members map[string]json.RawMessage) string {
	const show = 10
	if len(members) == 0 {
		return "no members"
	}
	names := slices.Sorted(maps.Keys(members))
	var quoted []string
	for _, k := range names[:min(len(names), show)] {
		quoted = append(quoted, fmt.Sprintf("%q", k))
	}
	if len(names) > show {
		quoted = append(quoted, fmt.Sprintf("… (%d in all)", len(names)))
	}
	return strings.Join(quoted, ", ")
}
