package datasets

import (
	"strings"
	"testing"
)

// checkParsed holds for any input: every kept key names an image file, every caption is
// non-empty and trimmed, and nothing is invented (kept captions + reported issues never exceed
// the input's lines).
func checkParsed(t *testing.T, input string, captions map[string][]string, issues []TokenFileIssue) {
	lines := strings.Count(input, "\n") + 1
	kept := 0
	for image, caps := range captions {
		if !isImageName(image) {
			t.Fatalf("kept key %q names no image", image)
		}
		for _, c := range caps {
			if c == "" || c != strings.TrimSpace(c) {
				t.Fatalf("caption %q is empty or untrimmed", c)
			}
			kept++
		}
	}
	if kept+len(issues) > lines {
		t.Fatalf("%d captions + %d issues from %d lines", kept, len(issues), lines)
	}
}

func FuzzParseTokenFile(f *testing.F) {
	f.Add("a.jpg#0\tA dog .\na.jpg#1\tA cat\n")
	f.Add("2258277193_586949ec62.jpg.1#0\tbogus\nb.jpg#x\tbad\nno tab\n\n")
	f.Add("\ufeffc.png#2\t  spaced  \r\n")
	f.Fuzz(func(t *testing.T, input string) {
		captions, issues, err := ParseTokenFile(strings.NewReader(input))
		if err != nil {
			return // only a line over 1 MiB errs
		}
		checkParsed(t, input, captions, issues)
		// A well-formed line round-trips.
		for image, caps := range captions {
			again, _, _ := ParseTokenFile(strings.NewReader(image + "#0\t" + caps[0] + "\n"))
			if len(again[image]) != 1 || again[image][0] != caps[0] {
				t.Fatalf("round trip of %q / %q gave %q", image, caps[0], again)
			}
		}
	})
}

func FuzzParseCaptionsCSV(f *testing.F) {
	f.Add("image,caption\na.jpg,A dog\na.jpg,\"A, quoted \"\"dog\"\"\"\n")
	f.Add("image,caption\nr.jpg,one,too,many\n\"unterminated,x\n")
	f.Add("a.png,no header\n")
	f.Fuzz(func(t *testing.T, input string) {
		captions, order, issues, err := ParseCaptionsCSV(strings.NewReader(input))
		if err != nil {
			return
		}
		checkParsed(t, input, captions, issues)
		if len(order) != len(captions) {
			t.Fatalf("order lists %d images, map has %d", len(order), len(captions))
		}
	})
}
