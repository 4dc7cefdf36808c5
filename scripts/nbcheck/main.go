// Command nbcheck fails when an executed notebook has a failed cell or lacks its pictures
// (see package internal/nbcheck): go run ./scripts/nbcheck EXECUTED.ipynb...
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
