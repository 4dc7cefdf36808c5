// Command nbcheck fails when an executed notebook has a failed cell or lacks its pictures
// (see package internal/nbcheck): go run ./scripts/nbcheck EXECUTED.ipynb...
//
// It prints one line per problem, the root cause first, then a hint when the cause is the
// environment Jupyter runs in, then what Jupyter/GoNB reported:
//
//	FAIL OUT/01-data.ipynb (0 pictures)
//	   cell 2: go: go.mod requires go >= 1.27.3 (running go 1.26.8; GOTOOLCHAIN=local) — start Jupyter with GOTOOLCHAIN=go1.27.3 in its environment (see README Notebooks) (reported: ERROR: failed to run ".../go get": exit status 1)
package main

import (
	"fmt"
	"os"

	"github.com/attncap/attncap/internal/nbcheck"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: go run ./scripts/nbcheck EXECUTED.ipynb...")
		os.Exit(2)
	}
	failed := false
	for _, path := range os.Args[1:] {
		r, err := nbcheck.Check(path)
		if err != nil {
			fmt.Fprintln(os.Stderr, "nbcheck:", err)
			failed = true
			continue
		}
		if len(r.Problems) > 0 {
			failed = true
			fmt.Printf("FAIL %s (%d pictures)\n", path, r.Images)
			for _, p := range r.Problems {
				fmt.Println("  ", p)
			}
			continue
		}
		fmt.Printf("ok   %s (%d pictures)\n", path, r.Images)
	}
	if failed {
		os.Exit(1)
	}
}
