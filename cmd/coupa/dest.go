package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/coupa-connector/coupa-connector/dest/parquet"
	"github.com/coupa-connector/coupa-connector/dest/postgres"
	"github.com/coupa-connector/coupa-connector/dest/sqlite"
)

// defaultDest is where `coupa sync` writes when --dest is not given.
const defaultDest = "sqlite:coupa.db"

// destSpec is a parsed --dest value.
type destSpec struct {
	kind   string // sqlite | postgres | parquet
	target string // file path, DSN or directory
}

// warehouseSpec is a --dest with the destination options given next to it.
type warehouseSpec struct {
	destSpec
	pgSchema string // --pg-schema; empty leaves the choice to the DSN's search_path, else "coupa"
}

func (d destSpec) String() string {
	if d.kind == "postgres" {
		return "postgres" // a DSN may hold a password: never echo it
	}
	return d.kind + ":" + d.target
}

const destHelp = "use sqlite:PATH, PATH.db, postgres://... or parquet:DIR"

// parseDest reads --dest: sqlite:PATH | PATH.db (.sqlite, .sqlite3) | postgres://... | parquet:DIR.
func parseDest(s string) (destSpec, error) {
	s = strings.TrimSpace(s)
	low := strings.ToLower(s)
	switch {
	case s == "":
		return destSpec{}, usageError("--dest is empty: %s", destHelp)
	case strings.HasPrefix(low, "sqlite:"):
		p := strings.TrimPrefix(s[len("sqlite:"):], "//")
		if p == "" {
			return destSpec{}, usageError("--dest sqlite: needs a file path, e.g. sqlite:coupa.db")
		}
		return destSpec{kind: "sqlite", target: p}, nil
	case strings.HasPrefix(low, "postgres://"), strings.HasPrefix(low, "postgresql://"):
		return destSpec{kind: "postgres", target: s}, nil
	case strings.HasPrefix(low, "parquet:"):
		p := s[len("parquet:"):]
		if p == "" {
			return destSpec{}, usageError("--dest parquet: needs a directory, e.g. parquet:./warehouse")
		}
		return destSpec{kind: "parquet", target: p}, nil
	case strings.HasSuffix(low, ".db"), strings.HasSuffix(low, ".sqlite"), strings.HasSuffix(low, ".sqlite3"):
		return destSpec{kind: "sqlite", target: s}, nil
	}
	return destSpec{}, usageError("--dest %q is not a destination I know: %s", s, destHelp)
}

// openDest opens the warehouse w names. mustExist refuses to create a new one (for `coupa state`).
func openDest(ctx context.Context, w warehouseSpec, prefix string, mustExist bool) (dest.Destination, error) {
	spec := w.destSpec
	opts := dest.Options{Prefix: prefix}
	switch spec.kind {
	case "sqlite":
		if mustExist {
			if _, err := os.Stat(spec.target); err != nil {
				return nil, fmt.Errorf("no warehouse at %s: run `coupa sync --dest sqlite:%s` first", spec.target, spec.target)
			}
		}
		if dir := filepath.Dir(spec.target); dir != "" {
			if fi, err := os.Stat(dir); err == nil && !fi.IsDir() {
				return nil, fmt.Errorf("cannot create %s: %s is not a directory", spec.target, dir)
			}
		}
		db, err := sqlite.Open(spec.target, opts)
		if err != nil {
			return nil, err
		}
		return db, nil
	case "postgres":
		db, err := postgres.Open(ctx, spec.target, postgres.Options{Options: opts, Schema: w.pgSchema})
		if err != nil {
			return nil, err
		}
		return db, nil
	case "parquet":
		if mustExist {
			if _, err := os.Stat(spec.target); err != nil {
				return nil, fmt.Errorf("no warehouse at %s: run `coupa sync --dest parquet:%s` first", spec.target, spec.target)
			}
		}
		return parquet.Open(spec.target, opts)
	}
	return nil, fmt.Errorf("unknown destination kind %q", spec.kind)
}

// maxPGName is PostgreSQL's identifier limit (NAMEDATALEN-1). The server silently truncates a longer name, so
// two long schema names sharing their first 63 bytes would land in one schema.
const maxPGName = 63

const pgSchemaHelp = "PostgreSQL schema for the tables, created if missing (default: the DSN's search_path, else " +
	postgres.DefaultSchema + "; this flag wins over search_path)"

// pgSchemaFlag is --pg-schema. It remembers whether it was given: an explicit empty name is a mistake,
// while no flag at all means "the DSN's search_path, else coupa".
type pgSchemaFlag struct {
	name string
	set  bool
}

func (f *pgSchemaFlag) String() string { return f.name }
func (f *pgSchemaFlag) Type() string   { return "NAME" }
func (f *pgSchemaFlag) Set(s string) error {
	f.name, f.set = s, true
	return nil
}

// resolveDest parses --dest and applies --pg-schema to it, refusing a schema the destination cannot use.
// Any name up to 63 bytes is accepted as it is: the destination always quotes identifiers.
func resolveDest(destArg string, schema pgSchemaFlag) (warehouseSpec, error) {
	spec, err := parseDest(destArg)
	if err != nil || !schema.set {
		return warehouseSpec{destSpec: spec}, err
	}
	switch {
	case spec.kind != "postgres":
		return warehouseSpec{}, usageError("--pg-schema applies to PostgreSQL only, and --dest is %s: drop --pg-schema or use --dest postgres://...", spec)
	case schema.name == "":
		return warehouseSpec{}, usageError("--pg-schema is empty: name a schema (e.g. --pg-schema finance) or drop the flag to use the DSN's search_path, else %s", postgres.DefaultSchema)
	case len(schema.name) > maxPGName:
		return warehouseSpec{}, usageError("--pg-schema is %d bytes long: PostgreSQL names are at most %d bytes, choose a shorter one", len(schema.name), maxPGName)
	}
	return warehouseSpec{destSpec: spec, pgSchema: schema.name}, nil
}
