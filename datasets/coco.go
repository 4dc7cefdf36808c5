package datasets

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/attncap/attncap/internal/jsonfile"
)

// The COCO caption formats, shared by the dataset loader (LoadCOCO) and the evaluator
// (captioner/metrics): annotation files (captions_*.json) and results files.

// COCOCaptions is the layout of a COCO captions annotation file (captions_train2014.json):
// images, and captions that name their image.
type COCOCaptions struct {
	Images      []COCOImage      `json:"images"`
	Annotations []COCOAnnotation `json:"annotations"`
}

// COCOImage is an entry of COCOCaptions.Images. FileName is "" when the file gives none.
type COCOImage struct {
	ID       COCOID `json:"id"`
	FileName string `json:"file_name"`
}

// COCOAnnotation is one caption of COCOCaptions.Annotations. ID, the caption's own id, is the
// zero COCOID when the file gives none; it may be of either kind.
type COCOAnnotation struct {
	ID      COCOID `json:"id,omitzero"`
	ImageID COCOID `json:"image_id"`
	Caption string `json:"caption"`
}

// COCOResult is one entry of a COCO results file: an image and the caption made for it.
type COCOResult struct {
	ImageID COCOID `json:"image_id"`
	Caption string `json:"caption"`
}

const (
	captionsShape = `a COCO captions annotation file (captions_*.json): {"images": [{"id": …, "file_name": …}, …], "annotations": [{"image_id": …, "caption": …}, …]}`
	resultsShape  = `a COCO results file: a JSON list [{"image_id": …, "caption": …}, …]`
)

// ParseCOCOCaptions reads a COCO captions annotation file held in data; name is the file's
// name, for messages. It checks the file's shape: an object with an "images" list (each with an
// "id", "file_name" optional) and a non-empty "annotations" list (each with an "image_id" and
// a string "caption", "id" optional), every image id of one kind (see COCOID). It does not check
// that annotations name listed images: the loader and the evaluator treat those differently.
// Every error names the file, the first offending entry (its index and image id), what is
// wrong and what to do; an instances (object detection) file is named as such.
func ParseCOCOCaptions(name string, data []byte) (*COCOCaptions, error) {
	if err := jsonfile.Check(name, data, captionsShape); err != nil {
		return nil, err
	}
	top, ok := jsonfile.Object(data)
	if !ok {
		return nil, notCaptionsObject(name, data)
	}
	annRaw, err := topList(name, top, "annotations", karpathyHint(top))
	if err != nil {
		return nil, err
	}
	if len(annRaw) == 0 {
		return nil, fmt.Errorf(`%s: "annotations" is empty; a captions file has one {"image_id", "caption"} entry per caption`, name)
	}
	imgRaw, err := topList(name, top, "images", "")
	if err != nil {
		return nil, err
	}
	kinds := &idKinds{file: name}
	cf := &COCOCaptions{}
	if cf.Images, err = readImages(name, imgRaw, kinds); err != nil {
		return nil, err
	}
	if cf.Annotations, err = readAnnotations(name, annRaw, kinds); err != nil {
		return nil, err
	}
	return cf, nil
}

// ParseCOCOResults reads a COCO results file held in data; name is the file's name, for
// messages. The file must be a non-empty JSON list of objects, each with an "image_id" and a
// string "caption" (an empty caption is a legitimate output and is kept, as pycocoevalcap
// scores it), every image id of one kind (see COCOID). Errors are worded as ParseCOCOCaptions'.
func ParseCOCOResults(name string, data []byte) ([]COCOResult, error) {
	if err := jsonfile.Check(name, data, resultsShape); err != nil {
		return nil, err
	}
	list, ok := jsonfile.List(data)
	if !ok {
		return nil, notResultsList(name, data)
	}
	if len(list) == 0 {
		return nil, fmt.Errorf(`%s: the list is empty; want one {"image_id", "caption"} entry per image`, name)
	}
	kinds := &idKinds{file: name}
	results := make([]COCOResult, 0, len(list))
	for i, raw := range list {
		r, err := readResult(name, i, raw, kinds)
		if err != nil {
			return nil, err
		}
		results = append(results, r)
	}
	return results, nil
}

// notCaptionsObject explains a captions file whose top-level value is not an object.
func notCaptionsObject(name string, data []byte) error {
	kind := jsonfile.Kind(data)
	if kind == "a list" {
		return fmt.Errorf("%s: a JSON list, as a results file is; want %s (were the annotation and results files swapped?)", name, captionsShape)
	}
	return fmt.Errorf("%s: %s, want %s", name, kind, captionsShape)
}

// notResultsList explains a results file whose top-level value is not a list.
func notResultsList(name string, data []byte) error {
	kind := jsonfile.Kind(data)
	if top, ok := jsonfile.Object(data); ok {
		if _, ann := top["annotations"]; ann {
			return fmt.Errorf(`%s: a JSON object with "annotations", as an annotation file is; want %s (were the annotation and results files swapped?)`, name, resultsShape)
		}
	}
	return fmt.Errorf("%s: %s, want %s", name, kind, resultsShape)
}

// karpathyHint recognises a Karpathy split file (images with "sentences"), for the message
// about a missing "annotations" list.
func karpathyHint(top map[string]json.RawMessage) string {
	images, _ := jsonfile.List(top["images"])
	if len(images) == 0 {
		return ""
	}
	if first, ok := jsonfile.Object(images[0]); ok {
		if _, ok := first["sentences"]; ok {
			return `; this looks like a Karpathy split file (its images have "sentences"), which -data reads, not a COCO captions file`
		}
	}
	return ""
}

// topList returns the elements of the list top[key]; hint ends the message about a missing one.
func topList(name string, top map[string]json.RawMessage, key, hint string) ([]json.RawMessage, error) {
	raw, ok := top[key]
	if !ok {
		return nil, fmt.Errorf("%s: no %q list (it has %s); want %s%s", name, key, jsonfile.Keys(top), captionsShape, hint)
	}
	list, ok := jsonfile.List(raw)
	if !ok {
		return nil, fmt.Errorf("%s: %q is %s, want a list", name, key, jsonfile.Kind(raw))
	}
	return list, nil
}

// readImages reads the "images" list.
func readImages(name string, raw []json.RawMessage, kinds *idKinds) ([]COCOImage, error) {
	images := make([]COCOImage, 0, len(raw))
	for i, r := range raw {
		e, err := newEntry(name, fmt.Sprintf("images[%d]", i), r, `an image {"id", "file_name"}`)
		if err != nil {
			return nil, err
		}
		id, err := e.imageID("id", `each image needs "id"`, kinds)
		if err != nil {
			return nil, err
		}
		file, _, err := e.text("file_name")
		if err != nil {
			return nil, err
		}
		images = append(images, COCOImage{ID: id, FileName: file})
	}
	return images, nil
}

// readAnnotations reads the "annotations" list.
func readAnnotations(name string, raw []json.RawMessage, kinds *idKinds) ([]COCOAnnotation, error) {
	const need = `each annotation needs "image_id" and "caption"`
	anns := make([]COCOAnnotation, 0, len(raw))
	for i, r := range raw {
		e, err := newEntry(name, fmt.Sprintf("annotations[%d]", i), r, `a caption {"image_id", "caption"}`)
		if err != nil {
			return nil, err
		}
		a := COCOAnnotation{}
		if a.ID, err = e.optionalID("id"); err != nil {
			return nil, err
		}
		if a.ImageID, err = e.imageID("image_id", need, kinds); err != nil {
			return nil, err
		}
		if a.Caption, err = e.caption(need, `is this an instances (object detection) file? use a captions_*.json file`); err != nil {
			return nil, err
		}
		anns = append(anns, a)
	}
	return anns, nil
}

// readResult reads entry i of a results file.
func readResult(name string, i int, raw json.RawMessage, kinds *idKinds) (COCOResult, error) {
	const need = `each entry needs "image_id" and "caption"`
	e, err := newEntry(name, fmt.Sprintf("entry %d", i), raw, `{"image_id", "caption"}`)
	if err != nil {
		return COCOResult{}, err
	}
	r := COCOResult{}
	if r.ImageID, err = e.imageID("image_id", need, kinds); err != nil {
		return COCOResult{}, err
	}
	if r.Caption, err = e.caption(need, `is this an object detection results file? caption results need "image_id" and "caption"`); err != nil {
		return COCOResult{}, err
	}
	return r, nil
}

// cocoEntry is one object of a list in a COCO file, read field by field with messages that
// name the file and the entry ("annotations[3] (image_id 7)").
type cocoEntry struct {
	file, where string
	fields      map[string]json.RawMessage
}

// newEntry checks that raw is an object; want describes one, for the message if it is not.
func newEntry(file, where string, raw json.RawMessage, want string) (*cocoEntry, error) {
	fields, ok := jsonfile.Object(raw)
	if !ok {
		return nil, fmt.Errorf("%s: %s is %s, want %s", file, where, jsonfile.Kind(raw), want)
	}
	return &cocoEntry{file: file, where: where, fields: fields}, nil
}

func (e *cocoEntry) errorf(format string, args ...any) error {
	return fmt.Errorf("%s: %s %s", e.file, e.where, fmt.Sprintf(format, args...))
}

// missing reports an absent field, listing the fields the entry has.
func (e *cocoEntry) missing(key, hint string) error {
	return e.errorf("has no %q (it has %s); %s", key, jsonfile.Keys(e.fields), hint)
}

// imageID reads a required image id, names the entry by it from then on, and checks its kind
// against the file's other image ids.
func (e *cocoEntry) imageID(key, need string, kinds *idKinds) (COCOID, error) {
	raw, ok := e.fields[key]
	if !ok {
		return COCOID{}, e.missing(key, need)
	}
	id, problem := parseCOCOID(raw)
	if problem != "" {
		return COCOID{}, e.errorf("%q is %s", key, problem)
	}
	if err := kinds.add(id, fmt.Sprintf("%s %q", e.where, key)); err != nil {
		return COCOID{}, err
	}
	e.where = fmt.Sprintf("%s (%s %s)", e.where, key, id)
	return id, nil
}

// optionalID reads an id that may be absent.
func (e *cocoEntry) optionalID(key string) (COCOID, error) {
	raw, ok := e.fields[key]
	if !ok {
		return COCOID{}, nil
	}
	id, problem := parseCOCOID(raw)
	if problem != "" {
		return COCOID{}, e.errorf("%q is %s", key, problem)
	}
	return id, nil
}

// text reads an optional string field.
func (e *cocoEntry) text(key string) (s string, present bool, err error) {
	raw, ok := e.fields[key]
	if !ok {
		return "", false, nil
	}
	if err := json.Unmarshal(raw, &s); err != nil || jsonfile.Kind(raw) != "a string" {
		return "", true, e.errorf("%q is %s, want a string", key, jsonfile.Kind(raw))
	}
	return s, true, nil
}

// caption reads the required "caption"; detection names the likely mistake when the entry has
// object detection fields instead.
func (e *cocoEntry) caption(need, detection string) (string, error) {
	c, ok, err := e.text("caption")
	switch {
	case err != nil:
		return "", err
	case !ok && e.isDetection():
		return "", e.missing("caption", detection)
	case !ok:
		return "", e.missing("caption", need)
	}
	return c, nil
}

// isDetection reports fields of COCO's object detection (instances, keypoints) annotations.
func (e *cocoEntry) isDetection() bool {
	for _, k := range []string{"bbox", "category_id", "segmentation", "keypoints"} {
		if _, ok := e.fields[k]; ok {
			return true
		}
	}
	return false
}

// idKinds remembers where a file's first integer and first string image ids are, to name both
// when the file mixes them.
type idKinds struct {
	file  string
	first []string // "images[0] \"id\" is 1", in the order the kinds appeared
	seen  [3]bool
}

// add records an id found at where and fails when ids of both kinds have been seen.
func (k *idKinds) add(id COCOID, where string) error {
	if k.seen[id.kind] {
		return nil
	}
	k.seen[id.kind] = true
	k.first = append(k.first, fmt.Sprintf("%s is %s %s", where, article(id.kindName()), id))
	if len(k.first) < 2 {
		return nil
	}
	return fmt.Errorf("%s: image ids mix integers and strings: %s; write every image id with one type (all integers or all strings)",
		k.file, strings.Join(k.first, " but "))
}

func article(kind string) string {
	if kind == "integer" {
		return "the integer"
	}
	return "the string"
}
