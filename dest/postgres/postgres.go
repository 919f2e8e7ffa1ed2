// Package postgres is the PostgreSQL destination: typed tables in one schema (default "coupa"), each page
// written with its children and checkpoint in one transaction: COPY when its parents are new to the table
// (copy.go), else an upsert that skips unchanged rows. Pages are staged two at a time (dest.StagedWriter).
//
// Types: bigint, numeric (money, exact: decimal text in, the same text out), timestamptz, boolean, text, and
// json for custom_fields and _extra (json, not jsonb, keeps the API's document byte for byte; cast to jsonb
// in queries or indexes where that helps).
//
// A schema (with a table prefix) holds one coupa connection's warehouse. A session advisory lock keyed on both (taken by
// Prepare, StartRun and ResetState, held until Close) makes a second sync into the same schema fail at once
// instead of interleaving with the first; syncs into different schemas or prefixes run side by side.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"net"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/coupa-connector/coupa-connector/dest"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DefaultSchema is where tables go when neither Options.Schema nor the DSN's search_path names one.
const DefaultSchema = "coupa"

// Options configure a PostgreSQL destination.
type Options struct {
	dest.Options
	// Schema holds every table of this warehouse; created if missing. Empty: the first entry of the DSN's
	// search_path, else DefaultSchema.
	Schema string
}

// ErrLocked is returned (wrapped) when another sync holds the schema's advisory lock.
var ErrLocked = errors.New("another coupa sync is writing into schema")

// DB is a PostgreSQL warehouse. It is safe for concurrent use.
type DB struct {
	pool   *pgxpool.Pool
	schema string
	prefix string

	lockMu   sync.Mutex
	lockConn *pgxpool.Conn // holds the session advisory lock; nil until taken

	fresh  freshIDs     // which parent ids cannot be in a table yet (copy.go)
	copied atomic.Int64 // pages staged by COPY, for the tests

	plans   sync.Map // table signature -> *tablePlan
	sources sync.Map // catalog table name -> its latest *tablePlan (for ReadRows)
}

var _ dest.Destination = (*DB)(nil)
var _ dest.StagedWriter = (*DB)(nil)

// minConns: one connection may be pinned by the advisory lock and StageLimit() more by staged pages, and
// reads (MaxID, states) must still find one free.
const minConns = 6

// Open connects to dsn (postgres:// or postgresql:// URL, or libpq keyword/value string; libpq PG* environment
// variables fill what the DSN leaves out) and checks that the server answers.
func Open(ctx context.Context, dsn string, opts Options) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(dsn)
	if err != nil {
		return nil, fmt.Errorf("postgres: invalid DSN: %s", oneLine(err.Error()))
	}
	schema := opts.Schema
	if schema == "" {
		if sp := cfg.ConnConfig.RuntimeParams["search_path"]; sp != "" {
			schema = strings.Trim(strings.TrimSpace(strings.Split(sp, ",")[0]), `"`)
		}
	}
	if schema == "" {
		schema = DefaultSchema
	}
	if _, set := cfg.ConnConfig.RuntimeParams["enable_seqscan"]; !set {
		// Until ANALYZE has run on a fresh child table the planner guesses that "parent_key = ANY($1)"
		// matches a quarter of it and scans it all: every page got slower than the last. Every statement
		// of this pool is a keyed write or a keyed read, so an index is always the right plan.
		cfg.ConnConfig.RuntimeParams["enable_seqscan"] = "off"
	}
	if cfg.MaxConns < minConns {
		cfg.MaxConns = minConns
	}
	d := &DB{schema: schema, prefix: opts.Prefix}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, connError(cfg.ConnConfig.Config, err)
	}
	if err := pool.Ping(ctx); err != nil {
		pool.Close()
		return nil, connError(cfg.ConnConfig.Config, err)
	}
	d.pool = pool
	return d, nil
}

// Schema is the schema this warehouse lives in.
func (d *DB) Schema() string { return d.schema }

// Close releases the advisory lock and every connection.
func (d *DB) Close() error {
	d.lockMu.Lock()
	if d.lockConn != nil {
		// Closing the session would drop the lock too; unlocking first lets the connection go back cleanly.
		_, err := d.lockConn.Exec(context.Background(), "SELECT pg_advisory_unlock($1)", d.lockKey())
		if err != nil {
			d.lockConn.Conn().Close(context.Background())
		}
		d.lockConn.Release()
		d.lockConn = nil
	}
	d.lockMu.Unlock()
	d.pool.Close()
	return nil
}

// lockKey is the advisory lock key of this warehouse (schema and table prefix): one warehouse, one writer.
func (d *DB) lockKey() int64 {
	h := fnv.New64a()
	h.Write([]byte("coupa-connector/schema/" + d.schema + "/prefix/" + d.prefix))
	return int64(h.Sum64())
}

// lock takes the schema's session advisory lock once and keeps it until Close.
func (d *DB) lock(ctx context.Context) error {
	d.lockMu.Lock()
	defer d.lockMu.Unlock()
	if d.lockConn != nil {
		return nil
	}
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return d.wrap("acquire a connection", err)
	}
	var ok bool
	if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock($1)", d.lockKey()).Scan(&ok); err != nil {
		conn.Release()
		return d.wrap("take the advisory lock", err)
	}
	if !ok {
		conn.Release()
		holder := ""
		var pid int32
		key := uint64(d.lockKey())
		// A bigint advisory key is stored as classid (high 32 bits) and objid (low 32 bits).
		err := d.pool.QueryRow(ctx, `SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted
			AND classid = $1 AND objid = $2 AND objsubid = 1 LIMIT 1`, int64(key>>32), int64(key&0xffffffff)).Scan(&pid)
		if err == nil {
			holder = fmt.Sprintf(" (server pid %d)", pid)
		}
		where := fmt.Sprintf("%q", d.schema)
		if d.prefix != "" {
			where += fmt.Sprintf(" with prefix %q", d.prefix)
		}
		return fmt.Errorf("postgres: %w %s%s; wait for it to finish, or sync this connection into another schema", ErrLocked, where, holder)
	}
	d.lockConn = conn
	return nil
}

// ident quotes a table of this warehouse's schema.
func (d *DB) ident(table string) string {
	return pgx.Identifier{d.schema, table}.Sanitize()
}

func (d *DB) wrap(op string, err error) error {
	return fmt.Errorf("postgres: %s: %w", op, oneLineErr{err})
}

// oneLineErr keeps errors.Is/As working while guaranteeing a single line of text.
type oneLineErr struct{ error }

func (e oneLineErr) Error() string { return oneLine(e.error.Error()) }
func (e oneLineErr) Unwrap() error { return e.error }

func oneLine(s string) string {
	s = strings.TrimSpace(s)
	s = strings.ReplaceAll(s, "\n\t", "; ")
	return strings.ReplaceAll(s, "\n", "; ")
}

// connError names why the server could not be used and what to do; it never repeats the password.
func connError(c pgconn.Config, err error) error {
	where := fmt.Sprintf("%s:%d database %q as %q", c.Host, c.Port, c.Database, c.User)
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		hint := ""
		switch pe.Code {
		case "28P01", "28000":
			hint = "; check the user and password (DSN, PGPASSWORD or ~/.pgpass)"
		case "3D000":
			hint = "; create it (createdb) or fix the database name in the DSN"
		case "42501":
			hint = "; grant the role CONNECT on the database"
		}
		return fmt.Errorf("postgres: connect to %s: %s (SQLSTATE %s)%s", where, pe.Message, pe.Code, hint)
	}
	// pgx tries every address (and sslmode=prefer tries twice): the network error says it once.
	var ne *net.OpError
	if errors.As(err, &ne) {
		err = ne
	} else if ce := (*pgconn.ConnectError)(nil); errors.As(err, &ce) && errors.Unwrap(ce) != nil {
		err = errors.Unwrap(ce)
	}
	return fmt.Errorf("postgres: cannot connect to %s: %s; check that the server runs and the host/port in the DSN", where, oneLine(err.Error()))
}
