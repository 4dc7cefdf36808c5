// Command caption writes a caption for each image with a trained model:
//
//	go run ./scripts/caption -checkpoint RUN_DIR [-beam 3] [-beam-style keep|shrink] [-json] [-attention OUT_DIR] IMAGE_OR_DIR...
//
// or scores a given caption instead, printing the log-probability of each word and of <end>:
//
//	go run ./scripts/caption -checkpoint RUN_DIR -score "a man rides a horse" [-json] IMAGE...
//	go run ./scripts/caption -checkpoint RUN_DIR -scores PAIRS.json [-json]
//
// where PAIRS.json is a JSON list of {"image": PATH, "caption": TEXT}.
//
// With -attention it also writes, per image, OUT_DIR/NAME.attention.png: the image once per
// generated word with that word's attention map over it.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/attncap/attncap/captioner"
	"github.com/attncap/attncap/captioner/decode"
	"github.com/attncap/attncap/captioner/viz"
	"github.com/attncap/attncap/datasets"
)

func main() {
	checkpoint := flag.String("checkpoint", "", "run folder (its best model) or model folder")
	beam := flag.Int("beam", 3, "beam width (1: greedy)")
	asJSON := flag.Bool("json", false, "print one JSON object per image (caption, tokens, log-probability)")
	attention := flag.String("attention", "", "write attention pictures (PNG) into this folder")
	lengthNorm := flag.Bool("length-norm", false, "rank beams by log-probability per word")
	backendName := flag.String("backend", "", "go (default), xla:cuda, … (default: $GOMLX_BACKEND or go)")
	loopFlag := flag.String("loop", "auto", "where decoding loops over the words: host (one step graph call per word), graph (the whole loop in one graph) or auto")
	beamStyle := flag.String("beam-style", "keep", "keep (attncap's: k live hypotheses to the end, plus a greedy row) or shrink (the PyTorch tutorial's: the beam narrows as hypotheses end)")
	controlFlags := decode.RegisterControlFlags(flag.CommandLine)
	score := flag.String("score", "", "instead of captioning, score this caption for each image: log-probability of each word and <end>")
	scores := flag.String("scores", "", "instead of captioning, score the pairs of this JSON file: [{\"image\": PATH, \"caption\": TEXT}, …]")
	flag.Parse()
	if *scores != "" {
		if *checkpoint == "" || *score != "" || flag.NArg() > 0 {
			usage()
		}
		paths, captions, err := readPairs(*scores)
		check(err)
		scoreAll(*checkpoint, *backendName, paths, captions, *asJSON)
		return
	}
	if *checkpoint == "" || flag.NArg() == 0 {
		usage()
	}
	loop, err := decode.ParseLoop(*loopFlag)
	check(err)
	style, err := decode.ParseBeamStyle(*beamStyle)
	check(err)
	paths, err := expand(flag.Args())
	check(err)
	scoreGiven := false // -score "" scores the empty caption (<end> alone)
	flag.Visit(func(f *flag.Flag) { scoreGiven = scoreGiven || f.Name == "score" })
	if scoreGiven {
		captions := make([]string, len(paths))
		for i := range captions {
			captions[i] = *score
		}
		scoreAll(*checkpoint, *backendName, paths, captions, *asJSON)
		return
	}
	backend, _, err := captioner.NewBackend(*backendName)
	check(err)
	m, err := captioner.OpenModel(backend, *checkpoint)
	check(err)
	opts := decode.Options{Beam: *beam, LengthNorm: *lengthNorm, SkipAttention: *attention == "", Loop: loop, BeamStyle: style, Controls: controlFlags.Controls()}
	check(opts.Controls.Validate(*beam))
	caps, err := decode.Images(m, paths, opts, 8, nil)
	check(err)
	gh, gw := m.Config.GridDims()
	for i, c := range caps {
		printCaption(paths[i], c, *asJSON, opts.NumReturnSequences > 1)
		if *attention != "" {
			img, err := datasets.DecodeImage(paths[i], 0)
			check(err)
			fig := viz.AttentionFigure(img, c.Words, c.Attention, gh, gw, 160, 6)
			check(os.MkdirAll(*attention, 0o755))
			name := filepath.Join(*attention, strings.TrimSuffix(filepath.Base(paths[i]), filepath.Ext(paths[i]))+".attention.png")
			f, err := os.Create(name)
			check(err)
			check(png.Encode(f, fig))
			check(f.Close())
			if !*asJSON {
				fmt.Printf("  attention: %s\n", name)
			}
		}
	}
}

// printCaption prints an image's caption — or, with -num-return-sequences n > 1 (nBest), its
// n-best list, best first — as text or one JSON object per image ({"image", "captions": […]}
// for a list). A log-probability or score that is not finite (every word banned) is null.
func printCaption(path string, c decode.Caption, asJSON, nBest bool) {
	list := append([]decode.Caption{c}, c.Alternatives...)
	if asJSON {
		var objs []map[string]any
		for _, x := range list {
			tokens := x.Words
			if tokens == nil {
				tokens = []string{}
			}
			objs = append(objs, map[string]any{"caption": strings.Join(x.Words, " "), "tokens": tokens, "ids": x.Tokens,
				"log_prob": finite(x.LogProb), "score": finite(x.Score), "finished": x.Finished, "limit": x.Limit})
		}
		out := objs[0]
		if nBest {
			out = map[string]any{"captions": objs}
		}
		out["image"] = path
		data, err := json.Marshal(out)
		check(err)
		fmt.Println(string(data))
		return
	}
	if !nBest {
		fmt.Printf("%s: %s\n", path, c.Text())
		return
	}
	fmt.Printf("%s:\n", path)
	for i, x := range list {
		fmt.Printf("  %d. %s  (score %.4f, log-prob %.4f)\n", i+1, x.Text(), x.Score, x.LogProb)
	}
}

// finite is x, or nil (JSON null) when it is not finite.
func finite(x float64) *float64 {
	if math.IsInf(x, 0) || math.IsNaN(x) {
		return nil
	}
	return &x
}

func usage() {
	fmt.Fprintln(os.Stderr, `usage: go run ./scripts/caption -checkpoint RUN_DIR [-beam 3] [-beam-style keep|shrink] [-json] [-attention OUT_DIR] IMAGE_OR_DIR...
       go run ./scripts/caption -checkpoint RUN_DIR -score "A CAPTION" [-json] IMAGE_OR_DIR...
       go run ./scripts/caption -checkpoint RUN_DIR -scores PAIRS.json [-json]`)
	os.Exit(2)
}

// scoreAll prints, per image, the log-probability of each word of its caption and of <end>.
func scoreAll(checkpoint, backendName string, paths, captions []string, asJSON bool) {
	backend, _, err := captioner.NewBackend(backendName)
	check(err)
	m, err := captioner.OpenModel(backend, checkpoint)
	check(err)
	scores, err := decode.ScoreImages(m, paths, captions, 8)
	check(err)
	for i, s := range scores {
		if asJSON {
			out, _ := json.Marshal(map[string]any{"image": paths[i], "caption": captions[i], "words": s.Words, "ids": s.IDs,
				"log_probs": s.LogProbs, "log_prob": s.LogProb, "per_word": s.PerWord(), "unknown": s.Unknown})
			fmt.Println(string(out))
			continue
		}
		fmt.Printf("%s: %q  log-prob %.4f (%.4f per word)\n", paths[i], captions[i], s.LogProb, s.PerWord())
		for j, w := range s.Words {
			fmt.Printf("  %-16s %9.4f\n", w, s.LogProbs[j])
		}
		if len(s.Unknown) > 0 {
			fmt.Printf("  not in the vocabulary, scored as <unk>: %s\n", strings.Join(s.Unknown, ", "))
		}
	}
}

// readPairs reads a JSON list of {"image": PATH, "caption": TEXT}.
func readPairs(path string) (paths, captions []string, err error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("scores: %w", err)
	}
	var pairs []struct {
		Image   string `json:"image"`
		Caption string `json:"caption"`
	}
	if err := json.Unmarshal(data, &pairs); err != nil {
		return nil, nil, fmt.Errorf("scores %s: want a JSON list of {\"image\": PATH, \"caption\": TEXT}: %w", path, err)
	}
	for i, p := range pairs {
		if p.Image == "" || strings.TrimSpace(p.Caption) == "" {
			return nil, nil, fmt.Errorf("scores %s: entry %d needs an \"image\" and a \"caption\"", path, i)
		}
		paths, captions = append(paths, p.Image), append(captions, p.Caption)
	}
	if len(paths) == 0 {
		return nil, nil, fmt.Errorf("scores %s: no pairs", path)
	}
	return paths, captions, nil
}

// expand replaces folders by the JPEG and PNG files in them (sorted).
func expand(args []string) ([]string, error) {
	var out []string
	for _, a := range args {
		info, err := os.Stat(a)
		if err != nil {
			return nil, fmt.Errorf("image %s: %w", a, err)
		}
		if !info.IsDir() {
			out = append(out, a)
			continue
		}
		entries, err := os.ReadDir(a)
		if err != nil {
			return nil, err
		}
		var found []string
		for _, e := range entries {
			switch strings.ToLower(filepath.Ext(e.Name())) {
			case ".jpg", ".jpeg", ".png":
				found = append(found, filepath.Join(a, e.Name()))
			}
		}
		if len(found) == 0 {
			return nil, fmt.Errorf("folder %s has no .jpg or .png images", a)
		}
		sort.Strings(found)
		out = append(out, found...)
	}
	return out, nil
}

func check(err error) {
	if err != nil {
		fmt.Fprintln(os.Stderr, "caption:", err)
		os.Exit(1)
	}
}
