package metrics

import (
	"math/rand/v2"
	"testing"
)

// benchmarkCorpus is 1,000 images × 5 references built from examples.json's Flickr8k segments:
// image i has segment i mod 400's hypothesis and references plus a reference of another
// segment, in a shuffled order.
func benchmarkCorpus(b *testing.B, dir string) []Example {
	_, segs := loadMeteorExamples(b, dir)
	rng := rand.New(rand.NewPCG(1, 2))
	examples := make([]Example, 1000)
	for i := range examples {
		s := segs[i%len(segs)]
		refs := append(append([][]string(nil), s.References...), segs[rng.IntN(len(segs))].References[rng.IntN(4)])
		rng.Shuffle(len(refs), func(a, b int) { refs[a], refs[b] = refs[b], refs[a] })
		examples[i] = Example{Candidate: s.Candidate, References: refs}
	}
	return examples
}

// BenchmarkMeteor scores 1,000 images × 5 references with exact, stem and synonym (the data
// already loaded, as scripts/evaluate has it before scoring).
func BenchmarkMeteor(b *testing.B) {
	dir := sharedMeteorDir(b)
	examples := benchmarkCorpus(b, dir)
	m := sharedMeteor(b, dir, []meteorModule{moduleExact, moduleStem, moduleSynonym}, "")
	b.ResetTimer()
	for b.Loop() {
		if _, err := m.Score(examples); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMeteorLoad reads and parses the data files.
func BenchmarkMeteorLoad(b *testing.B) {
	dir := sharedMeteorDir(b)
	for b.Loop() {
		if _, err := LoadMeteor(MeteorOptions{DataDir: dir}); err != nil {
			b.Fatal(err)
		}
	}
}
