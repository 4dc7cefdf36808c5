// Package optflags declares command-line flags from an options struct, so that each option is
// declared once: its flag name in the field's `flag` tag, its help in the `help` tag. Flags
// record what the command line gave; Apply then writes those values over a struct that already
// holds the defaults (or a resumed run's saved options), and only those: an option the user did
// not give keeps the value the program chose for it.
package optflags

import (
	"flag"
	"fmt"
	"reflect"
	"sort"
	"strconv"
)

// Flag is one option's flag.
type Flag struct {
	Name  string // the `flag` tag
	Help  string // the `help` tag
	Field string // the Go field path, e.g. "Model.Encoder"
	index []int  // reflect field index path from the struct's root
	kind  reflect.Kind
	value *value
}

// Set is the flags of one options struct.
type Set struct {
	typ   reflect.Type
	flags []*Flag
	fs    *flag.FlagSet
}

// Register declares on fs a flag for every exported field of the struct type of options (a
// pointer or value; nested structs are walked) that has a `flag` tag, with usage
// help(field's help tag, flag name) — the program adds the defaults it computes. Fields of kinds
// other than string, bool, int, uint64 and float64 are a programming error and panic.
func Register(fs *flag.FlagSet, options any, usage func(f *Flag) string) *Set {
	t := reflect.TypeOf(options)
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	s := &Set{typ: t, fs: fs}
	s.walk(t, nil, "")
	for _, f := range s.flags {
		fs.Var(f.value, f.Name, usage(f))
	}
	return s
}

func (s *Set) walk(t reflect.Type, index []int, path string) {
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		idx := append(append([]int{}, index...), i)
		if sf.Type.Kind() == reflect.Struct {
			s.walk(sf.Type, idx, path+sf.Name+".")
			continue
		}
		name := sf.Tag.Get("flag")
		if name == "" {
			continue
		}
		switch sf.Type.Kind() {
		case reflect.String, reflect.Bool, reflect.Int, reflect.Uint64, reflect.Float64:
		default:
			panic(fmt.Sprintf("optflags: field %s%s of kind %s cannot be a flag", path, sf.Name, sf.Type.Kind()))
		}
		s.flags = append(s.flags, &Flag{Name: name, Help: sf.Tag.Get("help"), Field: path + sf.Name, index: idx,
			kind: sf.Type.Kind(), value: &value{kind: sf.Type.Kind()}})
	}
}

// Flags lists the declared flags, sorted by name.
func (s *Set) Flags() []*Flag {
	out := append([]*Flag{}, s.flags...)
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// Given reports whether the command line gave the flag.
func (s *Set) Given(name string) bool {
	for _, f := range s.flags {
		if f.Name == name {
			return f.value.set
		}
	}
	return false
}

// FieldValue is f's field in options (a pointer to the struct Register was given).
func (f *Flag) FieldValue(options any) reflect.Value {
	return reflect.ValueOf(options).Elem().FieldByIndex(f.index)
}

// Apply writes the value of every flag the command line gave into options (a pointer to the
// struct type Register was given).
func (s *Set) Apply(options any) {
	v := reflect.ValueOf(options)
	if v.Kind() != reflect.Pointer || v.Elem().Type() != s.typ {
		panic(fmt.Sprintf("optflags: Apply wants *%s, got %T", s.typ, options))
	}
	for _, f := range s.flags {
		if f.value.set {
			f.FieldValue(options).Set(f.value.parsed)
		}
	}
}

// value is a flag.Value that parses its field's kind and remembers whether it was given.
type value struct {
	kind   reflect.Kind
	set    bool
	text   string
	parsed reflect.Value
}

func (v *value) String() string { return v.text }

func (v *value) Set(s string) error {
	var p any
	var err error
	switch v.kind {
	case reflect.String:
		p = s
	case reflect.Bool:
		p, err = strconv.ParseBool(s)
	case reflect.Int:
		p, err = strconv.Atoi(s)
	case reflect.Uint64:
		p, err = strconv.ParseUint(s, 10, 64)
	case reflect.Float64:
		p, err = strconv.ParseFloat(s, 64)
	}
	if err != nil {
		return fmt.Errorf("want a %s", kindWord(v.kind))
	}
	v.set, v.text, v.parsed = true, s, reflect.ValueOf(p)
	return nil
}

// IsBoolFlag lets a bool option be given as -name alone, as the flag package's own bools.
func (v *value) IsBoolFlag() bool { return v.kind == reflect.Bool }

func kindWord(k reflect.Kind) string {
	switch k {
	case reflect.Bool:
		return "true or false"
	case reflect.Int:
		return "whole number"
	case reflect.Uint64:
		return "non-negative whole number"
	case reflect.Float64:
		return "number"
	}
	return "string"
}
