// Command download fetches a dataset's archives (resuming interrupted transfers, verifying
// pinned checksums) and extracts them:
//
//	go run ./scripts/download -dataset flickr8k -dir DIR
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"

	"github.com/attncap/attncap/datasets"
)

func main() {
	name := flag.String("dataset", "flickr8k", "dataset to fetch")
	dir := flag.String("dir", "", "folder to download and extract into")
	keep := flag.Bool("keep-archives", false, "keep the verified zip files in DIR/.downloads")
	flag.Parse()
	spec, ok := datasets.DownloadSpecs[*name]
	if *dir == "" || !ok || flag.NArg() > 0 {
		var names []string
		for n := range datasets.DownloadSpecs {
			names = append(names, n)
		}
		sort.Strings(names)
		fmt.Fprintf(os.Stderr, "usage: go run ./scripts/download -dataset %v -dir DIR\n", names)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := datasets.Download(ctx, spec, *dir, datasets.DownloadOptions{KeepArchives: *keep}); err != nil {
		fmt.Fprintln(os.Stderr, "download:", err)
		fmt.Fprintln(os.Stderr, "Rerun the same command to resume. To try attncap offline, use -data shapes.")
		os.Exit(1)
	}
	fmt.Printf("%s is ready in %s: go run ./scripts/prepare -data %s\n", *name, *dir, *dir)
}
