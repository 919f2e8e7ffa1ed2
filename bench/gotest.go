package main

import (
	"bufio"
	"bytes"
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

func setupGoTest(fs *flag.FlagSet, c *common) func(context.Context) ([]*report, error) {
	pkgs := fs.String("pkgs", "./coupa,./catalog/rowcodec,./dest/sqlite,./sim", "packages whose Benchmark functions run, comma-separated")
	benchtime := fs.String("benchtime", "2s", "go test -benchtime")
	bench := fs.String("bench", ".", "go test -bench pattern")
	return func(ctx context.Context) ([]*report, error) {
		list, err := parseList(*pkgs, parseString)
		if err != nil {
			return nil, fmt.Errorf("gotest: -pkgs: %v", err)
		}
		args := append([]string{"test", "-run", "XXX", "-bench", *bench, "-benchtime", *benchtime, "-benchmem",
			"-count", strconv.Itoa(c.runs)}, list...)
		progressf("gotest: go %s", strings.Join(args, " "))
		cmd := exec.CommandContext(ctx, "go", args...)
		cmd.Dir = filepath.Dir(defaultOut())
		var out bytes.Buffer
		cmd.Stdout = io.MultiWriter(&out, os.Stderr)
		cmd.Stderr = os.Stderr
		runErr := cmd.Run()
		results := parseGoBench(out.String())
		r := &report{scenario: "gotest", title: "Go micro-benchmarks (go test -bench)",
			header: []string{"package", "benchmark", "ns/op", "B/op", "allocs/op", "other metrics"}}
		for _, b := range results {
			var other []string
			for _, unit := range b.units {
				if unit == "ns/op" || unit == "B/op" || unit == "allocs/op" {
					continue
				}
				other = append(other, num(median(b.values[unit]), 1)+" "+unit)
			}
			r.add(b.pkg, b.name, num(median(b.values["ns/op"]), 0), num(median(b.values["B/op"]), 0),
				num(median(b.values["allocs/op"]), 0), strings.Join(other, ", "))
		}
		r.note("Command run: `go %s` (medians of the -count runs). These time one operation in isolation (decode one API page, map one record, write one page...); the scenarios above measure them together.", strings.Join(args, " "))
		if len(results) == 0 {
			r.note("No benchmark ran.")
		}
		if runErr != nil {
			return []*report{r}, fmt.Errorf("gotest: go test: %v", runErr)
		}
		return []*report{r}, nil
	}
}

// goBench is one benchmark's figures over -count runs.
type goBench struct {
	pkg, name string
	units     []string // in first-seen order
	values    map[string][]float64
}

// parseGoBench reads `go test -bench` output: "pkg: PATH" lines and
// "BenchmarkX-N   iterations   value unit   value unit ..." lines.
func parseGoBench(out string) []*goBench {
	var res []*goBench
	byKey := map[string]*goBench{}
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimPrefix(strings.TrimSpace(p), "github.com/coupa-connector/coupa-connector/")
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || len(f)%2 != 0 {
			continue
		}
		if _, err := strconv.ParseInt(f[1], 10, 64); err != nil {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i] // the GOMAXPROCS suffix
			}
		}
		key := pkg + " " + name
		b := byKey[key]
		if b == nil {
			b = &goBench{pkg: pkg, name: name, values: map[string][]float64{}}
			byKey[key] = b
			res = append(res, b)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			unit := f[i+1]
			if !slices.Contains(b.units, unit) {
				b.units = append(b.units, unit)
			}
			b.values[unit] = append(b.values[unit], v)
		}
	}
	return res
}
