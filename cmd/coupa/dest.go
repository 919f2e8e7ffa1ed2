package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/coupa-connector/coupa-connector/dest"
	_ "github.com/coupa-connector/coupa-connector/dest/all" // every backend, for dest.Parse
	"github.com/coupa-connector/coupa-connector/dest/postgres"
)

// defaultDest is where `coupa sync` writes when --dest is not given.
const defaultDest = "sqlite:coupa.db"

// destSpec is a parsed --dest value.
type destSpec struct {
	kind   string // the dest backend: sqlite | postgres | parquet
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

// parseDest reads --dest (sqlite:PATH | PATH.db (.sqlite, .sqlite3) | postgres://... | parquet:DIR, as the
// backends register them) without opening anything; a URL no backend reads is a usage error.
func parseDest(s string) (destSpec, error) {
	u, err := dest.Parse(s)
	if ue := (*dest.URLError)(nil); errors.As(err, &ue) {
		return destSpec{}, usageError("--dest %s", ue.Problem)
	}
	if err != nil {
		return destSpec{}, err
	}
	return destSpec{kind: u.Backend, target: u.Target}, nil
}

// openDest opens the warehouse w names. mustExist refuses to create a new one (for `coupa state`).
func openDest(ctx context.Context, w warehouseSpec, prefix string, mustExist bool) (dest.Destination, error) {
	opts := []dest.OpenOption{dest.WithPrefix(prefix)}
	if mustExist {
		opts = append(opts, dest.MustExist())
	}
	if w.pgSchema != "" {
		opts = append(opts, postgres.WithSchema(w.pgSchema))
	}
	d, err := dest.URL{Backend: w.kind, Target: w.target}.Open(ctx, opts...)
	if errors.Is(err, dest.ErrNoWarehouse) {
		return nil, fmt.Errorf("%w: run `coupa sync --dest %s` first", err, w.destSpec)
	}
	return d, err
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
