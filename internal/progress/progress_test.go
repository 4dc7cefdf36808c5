package progress

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// A bar written to a buffer (a log, not a terminal) prints plain lines, throttled: 1,000 steps
// done quickly give the first frame and the final one, not 1,000 frames.
func TestBarInALogPrintsFewPlainLines(t *testing.T) {
	var buf bytes.Buffer
	bar := New(&buf, 1000, "encoding")
	for range 1000 {
		if err := bar.Add(1); err != nil {
			t.Fatal(err)
		}
	}
	out := buf.String()
	if strings.Contains(out, "\r") {
		t.Errorf("carriage returns in a log: %q", out)
	}
	lines := strings.Split(strings.TrimRight(out, "\n"), "\n")
	if len(lines) > 3 {
		t.Errorf("%d lines for 1,000 quick steps, want ≤ 3:\n%s", len(lines), out)
	}
	if last := lines[len(lines)-1]; !strings.Contains(last, "100%") || !strings.Contains(last, "1000/1000") {
		t.Errorf("last line %q does not show the finished bar", last)
	}
}

// With a short interval every step that comes after it prints a line.
func TestBarInALogPrintsALinePerInterval(t *testing.T) {
	defer func(d time.Duration) { LogInterval = d }(LogInterval)
	LogInterval = 5 * time.Millisecond
	var buf bytes.Buffer
	bar := New(&buf, 4, "steps")
	for range 4 {
		time.Sleep(10 * time.Millisecond)
		_ = bar.Add(1)
	}
	lines := strings.Split(strings.TrimRight(buf.String(), "\n"), "\n")
	if len(lines) != 4 {
		t.Errorf("got %d lines, want one per step (4):\n%s", len(lines), buf.String())
	}
}

func TestNilWriterGivesNoBar(t *testing.T) {
	if New(nil, 10, "x") != nil {
		t.Error("a nil writer must give a nil bar")
	}
}
