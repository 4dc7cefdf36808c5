package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
)

// httpError is an error with the HTTP status it is answered with.
type httpError struct {
	status     int
	msg        string
	retryAfter int // seconds, for 429 and 503 (0: no Retry-After header)
}

func (e *httpError) Error() string { return e.msg }

// statusError returns an error answered with status and a message.
func statusError(status int, format string, args ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, args...)}
}

// writeJSON writes v as JSON with status.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// writeError answers err as JSON {"error": "..."}: with its own status when it is an
// httpError, else 500 (a fault of the server, never of the input).
func writeError(w http.ResponseWriter, err error) {
	var he *httpError
	if !errors.As(err, &he) {
		he = &httpError{status: http.StatusInternalServerError, msg: "internal error: " + err.Error()}
	}
	if he.retryAfter > 0 {
		w.Header().Set("Retry-After", strconv.Itoa(he.retryAfter))
	}
	writeJSON(w, he.status, map[string]string{"error": he.msg})
}
