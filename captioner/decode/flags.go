package decode

import (
	"flag"

	"github.com/attncap/attncap/internal/optflags"
)

// ControlFlags are the decoding controls as command-line flags (scripts/caption,
// scripts/evaluate): each Controls field's `flag` and `help` tags, and -bad-words.
type ControlFlags struct {
	set      *optflags.Set
	badWords string
}

// RegisterControlFlags declares the controls' flags on fs.
func RegisterControlFlags(fs *flag.FlagSet) *ControlFlags {
	f := &ControlFlags{set: optflags.Register(fs, &Controls{}, func(fl *optflags.Flag) string { return fl.Help })}
	fs.StringVar(&f.badWords, "bad-words", "", "comma-separated words or phrases never produced (e.g. \"dai,on top of\")")
	return f
}

// Controls are the controls the command line gave (the zero value for the others).
func (f *ControlFlags) Controls() Controls {
	var c Controls
	f.set.Apply(&c)
	c.BadWords = ParseBadWords(f.badWords)
	return c
}
