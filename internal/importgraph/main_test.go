package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

const root = "../.."

// TestDocsAreCurrent fails when a change of imports was not followed by `go generate ./internal/importgraph`.
func TestDocsAreCurrent(t *testing.T) {
	g, err := load(root)
	if err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]string{"imports.dot": g.dot(), "imports.svg": g.svg()} {
		got, err := os.ReadFile(filepath.Join(root, "docs", name))
		if err != nil || string(got) != want {
			t.Errorf("docs/%s is not the import graph of the code: run `go generate ./internal/importgraph` and commit it", name)
		}
	}
}

// TestNoArrowRunsBackUp holds the house to one-way arrows between its rooms (top folders; internal/X and cmd/X
// each a room of its own).
func TestNoArrowRunsBackUp(t *testing.T) {
	g, err := load(root)
	if err != nil {
		t.Fatal(err)
	}
	if c := g.roomCycles(); len(c) > 0 {
		t.Errorf("rooms that import each other: %s", strings.Join(c, "; "))
	}
}

// houseRules are the arrows DESIGN.md allows, as `go list` patterns ("dest/..." is dest and every package
// below it): a package matching pkg may import only packages matching allow, and its own pattern's.
var houseRules = []struct {
	pkg   string
	allow []string
}{
	{"catalog", nil}, // tables as data: nothing of ours
	{"catalog/rowcodec", []string{"catalog", "coupa", "internal/..."}},
	{"coupa", []string{"coupa/pace", "internal/jsonscan"}}, // the client stands on its own
	{"coupa/pace", nil},   // the scheduler is pure
	{"sim/...", nil},      // an independent reading of the API
	{"internal/...", nil}, // helpers below everything else
	{"dest/...", []string{"catalog", "internal/..."}}, // backends know rows, not Coupa
	{"extract/...", []string{"catalog/...", "coupa/...", "dest", "internal/..."}},
}

func TestHouseRules(t *testing.T) {
	g, err := load(root)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range violations(g) {
		t.Error(v)
	}
}

func violations(g *graph) []string {
	var out []string
	for _, p := range g.pkgs {
		for _, rule := range houseRules {
			if !under(p, rule.pkg) || testSupport(p) {
				continue
			}
			for _, d := range g.imports[p] {
				if !under(d, rule.pkg) && !slices.ContainsFunc(rule.allow, func(a string) bool { return under(d, a) }) {
					out = append(out, p+" imports "+d+", which the house rules for "+rule.pkg+" do not allow")
				}
			}
		}
	}
	return out
}

// under tells whether pkg matches pattern: the package itself, or with "/..." every package below it too.
func under(pkg, pattern string) bool {
	if base, ok := strings.CutSuffix(pattern, "/..."); ok {
		return pkg == base || strings.HasPrefix(pkg, base+"/")
	}
	return pkg == pattern
}

// The checks themselves must catch what they are for: a made-up module with a loop between two rooms and a
// client that imports the engine.
func TestChecksCatchBadHouses(t *testing.T) {
	list := `{"ImportPath":"m/extract","Module":{"Path":"m"},"GoFiles":["a.go"],"Imports":["m/coupa","m/internal/progress"]}
{"ImportPath":"m/internal/progress","Module":{"Path":"m"},"GoFiles":["a.go"],"Imports":["m/extract"]}
{"ImportPath":"m/coupa","Module":{"Path":"m"},"GoFiles":["a.go"],"Imports":["m/extract","fmt"]}
{"ImportPath":"m/reliability","Module":{"Path":"m"},"Imports":["m/extract"]}`
	g, err := parse([]byte(list))
	if err != nil {
		t.Fatal(err)
	}
	if slices.Contains(g.pkgs, "reliability") {
		t.Error("a folder of tests only is drawn as a package")
	}
	cycles := g.roomCycles()
	if !slices.Contains(cycles, "extract <-> internal/progress") || !slices.Contains(cycles, "coupa <-> extract") {
		t.Errorf("cycles = %v", cycles)
	}
	v := strings.Join(violations(g), "\n")
	for _, want := range []string{"coupa imports extract", "internal/progress imports extract"} {
		if !strings.Contains(v, want) {
			t.Errorf("violations miss %q:\n%s", want, v)
		}
	}
}
