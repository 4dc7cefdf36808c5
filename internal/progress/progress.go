// Package progress makes the progress bars attncap prints (github.com/schollz/progressbar) behave
// both on a terminal and in a log: on a terminal the bar redraws in place a few times a second;
// written to a file, a pipe or a CI log it prints one plain line at most every LogInterval (and
// the last state), instead of one carriage-return frame per step.
package progress

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// LogInterval is the shortest time between two lines of a bar that is not on a terminal.
var LogInterval = 10 * time.Second

// terminalThrottle is how often a bar on a terminal redraws.
const terminalThrottle = 200 * time.Millisecond

// New returns a progress bar of total steps described by desc that writes to w, or nil when w
// is nil (callers check for nil before Add). extra options are passed to progressbar as they are.
func New(w io.Writer, total int64, desc string, extra ...progressbar.Option) *progressbar.ProgressBar {
	if w == nil {
		return nil
	}
	throttle := terminalThrottle
	if !IsTerminal(w) {
		w, throttle = &lineWriter{w: w}, LogInterval
	}
	opts := []progressbar.Option{progressbar.OptionSetWriter(w), progressbar.OptionSetDescription(desc),
		progressbar.OptionShowCount(), progressbar.OptionSetWidth(30), progressbar.OptionThrottle(throttle),
		progressbar.OptionOnCompletion(func() { fmt.Fprintln(w) })}
	return progressbar.NewOptions64(total, append(opts, extra...)...)
}

// IsTerminal says whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// lineWriter turns each frame the bar draws ("\r" + bar, and "\r   \r" to clear it) into one
// plain line: carriage returns and the blank clearing frames are dropped.
type lineWriter struct {
	w io.Writer
}

func (l *lineWriter) Write(p []byte) (int, error) {
	line := bytes.TrimSpace(bytes.ReplaceAll(p, []byte{'\r'}, nil))
	if len(line) == 0 {
		return len(p), nil
	}
	if _, err := l.w.Write(append(line, '\n')); err != nil {
		return 0, err
	}
	return len(p), nil
}
