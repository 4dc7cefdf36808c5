package jsonfile

import (
	"encoding/json"
	"testing"
)

func TestDescribeSpeaksJSON(t *testing.T) {
	var v struct {
		Images []struct {
			ID int64 `json:"id"`
		} `json:"images"`
	}
	for _, c := range []struct{ data, want string }{
		{`{"images": {"id": 1}}`, `f.json: near byte offset 12 (line 1, column 13): "images" is an object, want a list`},
		{"{\"images\": [\n {\"id\": \"7\"}]}", `f.json: near byte offset 24 (line 2, column 12): "images.0.id" is a string, want an integer`},
		{`{"images": [{"id": 1.5}]}`, `f.json: near byte offset 22 (line 1, column 23): "images.0.id" is the number 1.5, want an integer`},
		{`[1]`, `f.json: near byte offset 1 (line 1, column 2): the top-level value is a list, want an object`},
		{`{"images": [}`, `f.json: not valid JSON at byte offset 12 (line 1, column 13): invalid character '}' looking for beginning of value`},
		{`{"images": [`, `f.json: not valid JSON: the file ends at byte offset 12 (line 1, column 13) in the middle of a value (cut short?)`},
	} {
		err := Describe("f.json", []byte(c.data), json.Unmarshal([]byte(c.data), &v))
		if err == nil || err.Error() != c.want {
			t.Errorf("%s:\n got %v\nwant %s", c.data, err, c.want)
		}
	}
	if err := Check("f.json", []byte("\n"), "a list"); err == nil || err.Error() != "f.json: the file is empty; want a list" {
		t.Errorf("empty: %v", err)
	}
}

func TestKindAndKeys(t *testing.T) {
	for raw, want := range map[string]string{`{}`: "an object", ` [1]`: "a list", `"x"`: "a string", `-1`: "a number", `true`: "true or false", `null`: "null", ``: "nothing"} {
		if got := Kind([]byte(raw)); got != want {
			t.Errorf("Kind(%q) = %q, want %q", raw, got, want)
		}
	}
	obj, _ := Object([]byte(`{"b": 1, "a": 2, "c": 3, "d": 4, "e": 5, "f": 6, "g": 7, "h": 8, "i": 9, "j": 10, "k": 11}`))
	if got := Keys(obj); got != `"a", "b", "c", "d", "e", "f", "g", "h", "i", "j", … (11 in all)` {
		t.Errorf("Keys = %s", got)
	}
}
