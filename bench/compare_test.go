package bench

import (
	"os"
	"path/filepath"
	"testing"
)

// TestCompareTakesMediansOverAlternatingRounds: a stand-in reference (a shell script whose
// rate changes from call to call, as a drifting machine would) and a row whose attncap timings
// change too; the row gets the medians of the rounds, worked out by hand.
func TestCompareTakesMediansOverAlternatingRounds(t *testing.T) {
	dir := t.TempDir()
	counter := filepath.Join(dir, "calls")
	script := filepath.Join(dir, "ref.sh")
	text := `n=$(cat ` + counter + ` 2>/dev/null || echo 0); n=$((n+1)); echo $n > ` + counter + `
case $n in 1) t=0.5;; 2) t=1.0;; *) t=0.25;; esac
echo "{\"times\": [$t, $t, $t]}"
`
	if err := os.WriteFile(script, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	again := [][]float64{{0.25, 0.25, 0.25}, {0.125, 0.125, 0.125}} // attncap's rounds 2 and 3: 4/s, then 8/s
	r := stats("step", "steps/s", 1, []float64{0.5, 0.5, 0.5})
	r = r.withTokens(10)
	r.refArgs, r.refCount = []string{"decoder"}, 1
	r.retime = func() ([]float64, error) {
		secs := again[0]
		again = again[1:]
		return secs, nil
	}
	rows := []Row{r, {Name: "no reference", Value: 7}}
	if err := Compare(rows, Options{Python: "/bin/sh", Script: script, Reps: 3, Rounds: 3}); err != nil {
		t.Fatal(err)
	}
	// Rounds: attncap 2, 4, 8 steps/s against PyTorch 2, 1, 4 steps/s: ratios 1, 4, 2.
	got := rows[0]
	if got.Value != 4 || got.Reference != 2 || got.Ratio != 2 || got.Min != 2 || got.Max != 8 {
		t.Errorf("row = %+v, want value 4, PyTorch 2, ratio 2, spread 2–8", got)
	}
	if want := "40 tokens/s; ratio per round: 1.00×, 4.00×, 2.00×"; got.Note != want {
		t.Errorf("note %q, want %q", got.Note, want)
	}
	if rows[1].Reference != 0 || rows[1].Ratio != 0 {
		t.Errorf("a row without a reference got one: %+v", rows[1])
	}
	// One round (the default) runs the reference once and keeps the first timing.
	r.retime = nil
	rows = []Row{r}
	if err := Compare(rows, Options{Python: "/bin/sh", Script: script, Reps: 3}); err != nil {
		t.Fatal(err)
	}
	if rows[0].Value != 2 || rows[0].Reference != 4 || rows[0].Ratio != 0.5 || rows[0].Note != "20 tokens/s" {
		t.Errorf("one round: %+v, want value 2, PyTorch 4 (the script's fourth call), ratio 0.5", rows[0])
	}
}
