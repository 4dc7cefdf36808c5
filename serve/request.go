package serve

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"mime"
	"mime/multipart"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"

	"github.com/attncap/attncap/captioner/decode"
)

// imageTypes are the Content-Types accepted for a raw image body.
var imageTypes = map[string]bool{"image/jpeg": true, "image/png": true, "image/webp": true, "image/bmp": true, "image/gif": true}

// Parameters are a request's decoding parameters, named as in Hugging Face's image-to-text task
// and its generate: the beam, the length limit, attention, and the decoding controls
// (decode.Controls: num_return_sequences, length_penalty, no_repeat_ngram_size, do_sample, …).
type Parameters struct {
	NumBeams     *int  `json:"num_beams"`      // beam width (1: greedy)
	MaxNewTokens *int  `json:"max_new_tokens"` // words at most, <end> not counted (capped at the model's limit)
	Attention    *bool `json:"attention"`      // return each word's attention over the grid
	decode.Controls
}

// parameterKinds are the JSON names of every parameter and the kind of value each takes, for
// queries and messages; parameterNames lists them in declaration order.
var parameterKinds, parameterNames = func() (map[string]reflect.Kind, []string) {
	kinds := map[string]reflect.Kind{}
	var names []string
	var walk func(t reflect.Type)
	walk = func(t reflect.Type) {
		for i := range t.NumField() {
			f := t.Field(i)
			if f.Anonymous {
				walk(f.Type)
				continue
			}
			name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
			if _, seen := kinds[name]; name == "" || name == "-" || seen {
				continue
			}
			k := f.Type.Kind()
			if k == reflect.Pointer {
				k = f.Type.Elem().Kind()
			}
			kinds[name], names = k, append(names, name)
		}
	}
	walk(reflect.TypeOf(Parameters{}))
	return kinds, names
}()

// captionRequest is a parsed POST /caption.
type captionRequest struct {
	images [][]byte // encoded images, in order
	names  []string // how each is named in errors ("body", "inputs[1]", "image file x.jpg")
	list   bool     // the request sent a list: answer with a list
	params Parameters
}

// parseRequest reads the body in any of the three forms. Errors carry their status.
func (s *Server) parseRequest(w http.ResponseWriter, r *http.Request) (*captionRequest, error) {
	r.Body = http.MaxBytesReader(w, r.Body, s.opts.MaxBodyBytes)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, statusError(http.StatusRequestEntityTooLarge, "request body over the limit of %d bytes", tooBig.Limit)
		}
		return nil, statusError(http.StatusBadRequest, "reading the request body: %v", err)
	}
	mediaType, mediaParams, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mediaType == "" || mediaType == "application/octet-stream" {
		mediaType = sniffImage(body)
	}
	var req *captionRequest
	switch {
	case imageTypes[mediaType]:
		req = &captionRequest{images: [][]byte{body}, names: []string{"the request body"}}
		err = queryParameters(r.URL.Query(), &req.params)
	case mediaType == "multipart/form-data":
		req, err = parseMultipart(body, mediaParams["boundary"])
		if err == nil {
			err = queryParameters(r.URL.Query(), &req.params)
		}
	case mediaType == "application/json":
		if r.URL.RawQuery != "" {
			return nil, statusError(http.StatusUnprocessableEntity, "a JSON request takes its parameters in its \"parameters\" object, not in the query string (%q)", r.URL.RawQuery)
		}
		req, err = parseJSON(body)
	default:
		return nil, statusError(http.StatusUnsupportedMediaType, "unsupported Content-Type %q: send an image as the body "+
			"(image/jpeg, image/png, image/webp, image/bmp, image/gif), multipart/form-data with a file field \"image\", "+
			"or application/json {\"inputs\": \"<base64 image>\"}", r.Header.Get("Content-Type"))
	}
	if err != nil {
		return nil, err
	}
	return req, s.checkRequest(req)
}

// sniffImage names the image type of an untyped body, or "" when it is none of imageTypes.
func sniffImage(body []byte) string {
	if t := http.DetectContentType(body); imageTypes[t] {
		return t
	}
	return ""
}

// parseMultipart takes every file (or value) of the form field "image", and the parameters
// given as form fields.
func parseMultipart(body []byte, boundary string) (*captionRequest, error) {
	if boundary == "" {
		return nil, statusError(http.StatusBadRequest, "multipart/form-data without a boundary")
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	req := &captionRequest{}
	fields := url.Values{}
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, statusError(http.StatusBadRequest, "malformed multipart body: %v", err)
		}
		data, err := io.ReadAll(part)
		if err != nil {
			return nil, statusError(http.StatusBadRequest, "malformed multipart body: %v", err)
		}
		if part.FormName() == "image" {
			req.images = append(req.images, data)
			req.names = append(req.names, "image file "+strconv.Quote(part.FileName()))
		} else {
			fields.Set(part.FormName(), string(data))
		}
	}
	if len(req.images) == 0 {
		return nil, statusError(http.StatusBadRequest, "multipart/form-data without a field \"image\"")
	}
	req.list = len(req.images) > 1
	return req, queryParameters(fields, &req.params)
}

// jsonRequest is the JSON form of a request.
type jsonRequest struct {
	Inputs     json.RawMessage `json:"inputs"`
	Parameters json.RawMessage `json:"parameters"`
}

// parseJSON reads {"inputs": base64 | [base64, …], "parameters": {…}}.
func parseJSON(body []byte) (*captionRequest, error) {
	var jr jsonRequest
	if err := json.Unmarshal(body, &jr); err != nil {
		return nil, statusError(http.StatusBadRequest, "the body is not a JSON object {\"inputs\": …}: %v", err)
	}
	req := &captionRequest{}
	var one string
	var many []string
	switch {
	case len(jr.Inputs) == 0 || string(jr.Inputs) == "null":
		return nil, statusError(http.StatusBadRequest, "JSON body without \"inputs\" (a base64 image, or a list of them)")
	case json.Unmarshal(jr.Inputs, &one) == nil:
		many = []string{one}
	case json.Unmarshal(jr.Inputs, &many) == nil:
		req.list = true
	default:
		return nil, statusError(http.StatusBadRequest, "\"inputs\" must be a base64 image or a list of them")
	}
	for i, in := range many {
		name := "inputs"
		if req.list {
			name = fmt.Sprintf("inputs[%d]", i)
		}
		data, err := decodeBase64(in)
		if err != nil {
			return nil, statusError(http.StatusBadRequest, "%s is not a base64 image: %v", name, err)
		}
		req.images, req.names = append(req.images, data), append(req.names, name)
	}
	if len(jr.Parameters) > 0 && string(jr.Parameters) != "null" {
		dec := json.NewDecoder(bytes.NewReader(jr.Parameters))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&req.params); err != nil {
			return nil, statusError(http.StatusUnprocessableEntity, "bad \"parameters\": %v (known: %s)", err, strings.Join(parameterNames, ", "))
		}
	}
	return req, nil
}

// decodeBase64 reads standard or URL-safe base64, padded or not, optionally as a data URL.
func decodeBase64(s string) ([]byte, error) {
	if rest, ok := strings.CutPrefix(s, "data:"); ok {
		if _, payload, found := strings.Cut(rest, ";base64,"); found {
			s = payload
		}
	}
	s = strings.TrimRight(strings.TrimSpace(s), "=")
	if data, err := base64.RawStdEncoding.DecodeString(s); err == nil {
		return data, nil
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// queryParameters reads the parameters from a query string or form: the JSON names, one value
// each, typed as in the JSON form (booleans as strconv.ParseBool reads them; bad_words:
// comma-separated phrases).
func queryParameters(v url.Values, p *Parameters) error {
	obj := map[string]any{}
	for key, values := range v {
		kind, ok := parameterKinds[key]
		if !ok {
			return statusError(http.StatusUnprocessableEntity, "unknown parameter %q (known: %s)", key, strings.Join(parameterNames, ", "))
		}
		if kind == reflect.Slice { // bad_words: repeated or comma-separated
			var all []string
			for _, s := range values {
				all = append(all, decode.ParseBadWords(s)...)
			}
			obj[key] = all
			continue
		}
		if len(values) > 1 {
			return statusError(http.StatusUnprocessableEntity, "parameter %q given %d times: give it once", key, len(values))
		}
		s := values[0]
		var err error
		switch kind {
		case reflect.Bool:
			obj[key], err = strconv.ParseBool(s)
		case reflect.Int:
			obj[key], err = strconv.Atoi(s)
		case reflect.Uint64:
			obj[key], err = strconv.ParseUint(s, 10, 64)
		case reflect.Float64:
			var f float64
			if f, err = strconv.ParseFloat(s, 64); err == nil && (math.IsNaN(f) || math.IsInf(f, 0)) {
				return statusError(http.StatusUnprocessableEntity, "%s=%q: want a finite number", key, s)
			}
			obj[key] = f
		default:
			obj[key] = s
		}
		if err != nil {
			return statusError(http.StatusUnprocessableEntity, "%s=%q is not %s", key, s, kindWord(kind))
		}
	}
	data, _ := json.Marshal(obj)
	if err := json.Unmarshal(data, p); err != nil {
		return statusError(http.StatusUnprocessableEntity, "bad parameters: %v", err)
	}
	return nil
}

// kindWord names what a parameter of a kind takes.
func kindWord(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "an integer"
	case reflect.Uint64:
		return "a non-negative integer"
	case reflect.Float64:
		return "a number"
	}
	return "a string"
}

// checkRequest enforces the image count and parameter ranges.
func (s *Server) checkRequest(req *captionRequest) error {
	if len(req.images) > s.opts.MaxImages {
		return statusError(http.StatusRequestEntityTooLarge, "%d images in one request, at most %d", len(req.images), s.opts.MaxImages)
	}
	if len(req.images) == 0 {
		return statusError(http.StatusBadRequest, "no image in the request")
	}
	p := req.params
	if p.NumBeams != nil && (*p.NumBeams < 1 || *p.NumBeams > s.opts.MaxBeam) {
		return statusError(http.StatusUnprocessableEntity, "num_beams %d out of range [1, %d]", *p.NumBeams, s.opts.MaxBeam)
	}
	if p.MaxNewTokens != nil && *p.MaxNewTokens < 1 {
		return statusError(http.StatusUnprocessableEntity, "max_new_tokens %d: want at least 1", *p.MaxNewTokens)
	}
	beam := s.opts.Beam
	if p.NumBeams != nil {
		beam = *p.NumBeams
	}
	if err := p.Controls.Validate(beam); err != nil {
		return statusError(http.StatusUnprocessableEntity, "%v", err)
	}
	if most := s.m.Config.MaxLen - 1; p.MaxNewTokens != nil && *p.MaxNewTokens > most {
		*req.params.MaxNewTokens = most // a cap, as in Hugging Face's API: the model writes at most this many anyway
	}
	return nil
}

// clientIP is the address a request came from, for messages.
func clientIP(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		return r.RemoteAddr
	}
	return host
}
