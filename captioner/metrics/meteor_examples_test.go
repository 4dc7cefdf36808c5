package metrics

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// sharedMeteorDir is ../shared/meteor beside the repository (the METEOR 1.5 data files,
// paraphrase-sample.gz and examples.json); the test is skipped when it is absent.
func sharedMeteorDir(t testing.TB) string {
	t.Helper()
	dir := filepath.Join("..", "..", "..", "shared", "meteor")
	if _, err := os.Stat(filepath.Join(dir, "examples.json")); err != nil {
		t.Skipf("no METEOR material at %s (../shared beside the repository): %v", dir, err)
	}
	return dir
}

// meteorExamples is examples.json: segments and the Java METEOR 1.5's scores of them under
// four module settings.
type meteorExamples struct {
	Settings map[string]struct {
		ModuleWeights []float64 `json:"module_weights"`
		Corpus        float64   `json:"corpus"`
		Segments      []float64 `json:"segments"`
	} `json:"settings"`
	Segments []struct {
		Hypothesis string   `json:"hypothesis"`
		References []string `json:"references"`
	} `json:"segments"`
}

func loadMeteorExamples(t testing.TB, dir string) (meteorExamples, []Example) {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "examples.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ex meteorExamples
	if err := json.Unmarshal(raw, &ex); err != nil {
		t.Fatal(err)
	}
	var examples []Example
	for _, s := range ex.Segments {
		e := Example{Candidate: strings.Fields(s.Hypothesis)}
		for _, r := range s.References {
			e.References = append(e.References, strings.Fields(r))
		}
		examples = append(examples, e)
	}
	return ex, examples
}

// sharedMeteor makes a Meteor with the given modules from the files in dir.
func sharedMeteor(t testing.TB, dir string, modules []meteorModule, paraphrases string) *Meteor {
	t.Helper()
	data, _, err := readMeteorData(MeteorOptions{DataDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	m, err := newMeteor(data, modules, paraphrases)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// meteorSettings are examples.json's module settings.
var meteorSettings = []struct {
	name    string
	modules []meteorModule
}{
	{"exact", []meteorModule{moduleExact}},
	{"exact stem", []meteorModule{moduleExact, moduleStem}},
	{"exact stem synonym", []meteorModule{moduleExact, moduleStem, moduleSynonym}},
	{"exact stem synonym paraphrase (paraphrase-sample.gz)", []meteorModule{moduleExact, moduleStem, moduleSynonym, moduleParaphrase}},
}

func TestMeteorMatchesJavaMeteorOnExamples(t *testing.T) {
	dir := sharedMeteorDir(t)
	want, examples := loadMeteorExamples(t, dir)
	for _, s := range meteorSettings {
		w, ok := want.Settings[s.name]
		if !ok {
			t.Fatalf("examples.json has no setting %q", s.name)
		}
		m := sharedMeteor(t, dir, s.modules, filepath.Join(dir, "paraphrase-sample.gz"))
		got, err := m.Score(examples)
		if err != nil {
			t.Fatal(err)
		}
		var maxSeg float64
		for i, g := range got.Segments {
			d := math.Abs(g - w.Segments[i])
			maxSeg = math.Max(maxSeg, d)
			if d > 1e-9 {
				t.Errorf("%s: segment %d = %.10f, Java METEOR %.10f", s.name, i, g, w.Segments[i])
			}
		}
		corpus := math.Abs(got.Score - w.Corpus)
		if corpus > 1e-9 {
			t.Errorf("%s: corpus = %.10f, Java METEOR %.10f", s.name, got.Score, w.Corpus)
		}
		t.Logf("%-55s max |Δ| segment %.1e, corpus %.1e", s.name, maxSeg, corpus)
	}
}
