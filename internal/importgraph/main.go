// Command importgraph draws the module's package import graph from `go list` as DOT and SVG (docs/imports.*),
// floor by floor, so ARCHITECTURE.md shows the house as the code really is; its test fails when they are stale.
//
//	go generate ./internal/importgraph
package main

//go:generate go run . -dir ../..

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

func main() {
	dir := flag.String("dir", ".", "the module's root directory")
	flag.Parse()
	if err := write(*dir); err != nil {
		fmt.Fprintln(os.Stderr, "importgraph:", err)
		os.Exit(1)
	}
}

// write regenerates docs/imports.dot and docs/imports.svg under the module root dir.
func write(dir string) error {
	g, err := load(dir)
	if err != nil {
		return err
	}
	docs := filepath.Join(dir, "docs")
	if err := os.MkdirAll(docs, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(docs, "imports.dot"), []byte(g.dot()), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(docs, "imports.svg"), []byte(g.svg()), 0o644)
}
