// Command prepare validates a captioning dataset, builds and saves its vocabulary (from the
// train split only) and prints a summary:
//
//	go run ./scripts/prepare -data DIR|FILE.json|shapes [-images DIR] [-allow-missing] [-min-count 5] [-json]
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"

	"github.com/attncap/attncap/datasets"
	"github.com/attncap/attncap/datasets/text"
)

func main() {
	data := flag.String("data", "", "Flickr8k-layout folder, Kaggle folder, Karpathy/COCO .json, or the word shapes")
	images := flag.String("images", "", "image folder (default: found beside the dataset's files)")
	allowMissing := flag.Bool("allow-missing", false, "drop images that are listed but missing on disk, instead of failing")
	minCount := flag.Int("min-count", text.DefaultMinCount, "words seen fewer times in the train split map to <unk>")
	maxLen := flag.Int("max-len", text.DefaultMaxLen, "encoded caption length, <start> and <end> included")
	vocabPath := flag.String("vocab", "", "where to save the vocabulary (default: the user cache folder, printed)")
	asJSON := flag.Bool("json", false, "print the summary as one JSON object on stdout")
	flag.Parse()
	if *data == "" || flag.NArg() > 0 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/prepare -data DIR|FILE.json|shapes [-images DIR] [-allow-missing] [-min-count N] [-json]")
		os.Exit(2)
	}
	summary, savedTo, err := datasets.Prepare(*data, datasets.PrepareOptions{
		Load:      datasets.LoadOptions{Images: *images, AllowMissing: *allowMissing},
		MinCount:  *minCount,
		MaxLen:    *maxLen,
		VocabPath: *vocabPath,
		Warn:      func(msg string) { fmt.Fprintln(os.Stderr, "warning:", msg) },
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "prepare:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, "vocabulary saved to", savedTo)
	if *asJSON {
		enc := json.NewEncoder(os.Stdout)
		if err := enc.Encode(summary); err != nil {
			fmt.Fprintln(os.Stderr, "prepare:", err)
			os.Exit(1)
		}
		return
	}
	fmt.Printf("%-6s %8s %9s\n", "split", "images", "captions")
	for _, s := range datasets.Splits {
		c := summary.Splits[s]
		fmt.Printf("%-6s %8d %9d\n", s, c.Images, c.Captions)
	}
	fmt.Printf("vocabulary: %d tokens (4 special), missing images: %d, truncated captions: %d\n",
		summary.VocabSize, summary.MissingImages, summary.TruncatedCaptions)
}
