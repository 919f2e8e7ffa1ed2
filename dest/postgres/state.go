package postgres

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/jackc/pgx/v5"
)

// States are keyed by (prefix, table) so that warehouses with different prefixes can share a schema. Times are
// RFC 3339 text with nanoseconds (timestamptz keeps microseconds only) and the window is dest.EncodeWindow's
// JSON, the shape every backend stores.

func (d *DB) stateUpsert(s *dest.State) (string, []any, error) {
	version := s.Version
	if version == 0 {
		version = dest.StateVersion
	}
	window, err := dest.EncodeWindow(s.Window)
	if err != nil {
		return "", nil, fmt.Errorf("postgres: encode the window of %s: %v", s.Table, err)
	}
	updated := s.UpdatedAt
	if updated.IsZero() {
		updated = time.Now()
	}
	return fmt.Sprintf(`INSERT INTO %s ("prefix", "table_name", "version", "cursor", "window", "updated_at")
		VALUES ($1, $2, $3, $4, $5, $6)
		ON CONFLICT ("prefix", "table_name") DO UPDATE SET "version" = EXCLUDED."version", "cursor" = EXCLUDED."cursor",
		"window" = EXCLUDED."window", "updated_at" = EXCLUDED."updated_at"`, d.ident(stateTable)),
		[]any{d.prefix, s.Table, version, dest.FormatTime(s.Cursor), nullIfEmpty(window), dest.FormatTime(updated)}, nil
}

// SaveState commits a state alone.
func (d *DB) SaveState(ctx context.Context, s *dest.State) error {
	q, args, err := d.stateUpsert(s)
	if err != nil {
		return err
	}
	if _, err := d.pool.Exec(ctx, q, args...); err != nil {
		return d.missingState(err, "save state of "+s.Table)
	}
	return nil
}

const stateCols = `"table_name", "version", "cursor", coalesce("window"::text, ''), "updated_at"`

func scanState(row pgx.Row) (*dest.State, error) {
	var s dest.State
	var cursor, window, updated string
	if err := row.Scan(&s.Table, &s.Version, &cursor, &window, &updated); err != nil {
		return nil, err
	}
	var err error
	if s.Cursor, err = dest.ParseTime(cursor); err != nil {
		return nil, fmt.Errorf("postgres: state of %s: %v; reset it with `coupa state reset %s`", s.Table, err, s.Table)
	}
	if s.UpdatedAt, err = dest.ParseTime(updated); err != nil {
		return nil, fmt.Errorf("postgres: state of %s: %v; reset it with `coupa state reset %s`", s.Table, err, s.Table)
	}
	if s.Version <= dest.StateVersion {
		// A newer version's window may mean something else: it is listed, never interpreted.
		if s.Window, err = dest.DecodeWindow(window); err != nil {
			return nil, fmt.Errorf("postgres: state of %s: %v; reset it with `coupa state reset %s`", s.Table, err, s.Table)
		}
	}
	return &s, nil
}

// LoadState returns the saved state of table, or nil when it has never been synced. A state written by a
// newer coupa is a *dest.StateVersionError.
func (d *DB) LoadState(ctx context.Context, table string) (*dest.State, error) {
	s, err := scanState(d.pool.QueryRow(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE "prefix" = $1 AND "table_name" = $2`, stateCols, d.ident(stateTable)),
		d.prefix, table))
	if errors.Is(err, pgx.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, d.missingState(err, "load state of "+table)
	}
	if err := dest.CheckStateVersion(s); err != nil {
		return nil, err
	}
	return s, nil
}

// missingState turns "relation does not exist" into advice: the warehouse was never prepared.
func (d *DB) missingState(err error, op string) error {
	var pe interface{ SQLState() string }
	if errors.As(err, &pe) && pe.SQLState() == "42P01" {
		return fmt.Errorf("postgres: %s: schema %q has no coupa state tables yet: run a sync first", op, d.schema)
	}
	return d.wrap(op, err)
}

// States lists every saved table state of this prefix, by table name, newer versions included.
func (d *DB) States(ctx context.Context) ([]*dest.State, error) {
	rows, err := d.pool.Query(ctx, fmt.Sprintf(`SELECT %s FROM %s WHERE "prefix" = $1 ORDER BY "table_name"`, stateCols, d.ident(stateTable)), d.prefix)
	if err != nil {
		return nil, d.missingState(err, "list states")
	}
	defer rows.Close()
	var out []*dest.State
	for rows.Next() {
		s, err := scanState(rows)
		if err != nil {
			return nil, d.missingState(err, "list states")
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, d.wrap("list states", err)
	}
	return out, nil
}

// ResetState forgets table's state ("" = every table of this prefix). It takes the advisory lock: resetting
// under a running sync would be undone by its next checkpoint.
func (d *DB) ResetState(ctx context.Context, table string) error {
	if err := d.lock(ctx); err != nil {
		return err
	}
	q := fmt.Sprintf(`DELETE FROM %s WHERE "prefix" = $1 AND ($2 = '' OR "table_name" = $2)`, d.ident(stateTable))
	if _, err := d.pool.Exec(ctx, q, d.prefix, table); err != nil {
		return d.missingState(err, "reset state")
	}
	return nil
}

// StartRun records a run and returns its id. It takes the advisory lock.
func (d *DB) StartRun(ctx context.Context, r *dest.Run) (int64, error) {
	if err := d.lock(ctx); err != nil {
		return 0, err
	}
	tables, _ := json.Marshal(r.Tables)
	var id int64
	err := d.pool.QueryRow(ctx, fmt.Sprintf(`INSERT INTO %s ("prefix", "started", "status", "tables", "summary", "error")
		VALUES ($1, $2, $3, $4, $5, $6) RETURNING "id"`, d.ident(runsTable)),
		d.prefix, r.Started.UTC(), orDefault(r.Status, "running"), string(tables), nullIfEmpty(r.Summary), nullIfEmpty(r.Error)).Scan(&id)
	if err != nil {
		return 0, d.missingState(err, "start run")
	}
	r.ID = id
	return id, nil
}

// FinishRun records the end of run r.ID.
func (d *DB) FinishRun(ctx context.Context, r *dest.Run) error {
	var finished any
	if !r.Finished.IsZero() {
		finished = r.Finished.UTC()
	}
	tables, _ := json.Marshal(r.Tables)
	tag, err := d.pool.Exec(ctx, fmt.Sprintf(`UPDATE %s SET "finished" = $2, "status" = $3, "tables" = $4, "summary" = $5, "error" = $6 WHERE "id" = $1`, d.ident(runsTable)),
		r.ID, finished, r.Status, string(tables), nullIfEmpty(r.Summary), nullIfEmpty(r.Error))
	if err != nil {
		return d.missingState(err, "finish run")
	}
	if tag.RowsAffected() == 0 {
		return fmt.Errorf("postgres: finish run %d: no such run in %s.%s", r.ID, d.schema, runsTable)
	}
	return nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func nullIfEmpty(s string) any {
	if s == "" {
		return nil
	}
	return s
}
