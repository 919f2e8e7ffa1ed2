// Package sqlite is the SQLite warehouse of `coupa sync`, the default destination: one file, pure Go
// (modernc.org/sqlite, no cgo), WAL mode, each page's rows, children and checkpoint in one transaction.
package sqlite

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/coupa-connector/coupa-connector/dest"

	_ "modernc.org/sqlite" // registers the "sqlite" database/sql driver
)

// Type mapping (see the README's warehouse section):
//
//	Int       INTEGER
//	Decimal   TEXT, the exact string Coupa sent ("1234.50"). DESIGN.md first said NUMERIC affinity, but
//	          NUMERIC converts "1234.50" to the REAL 1234.5: it drops the trailing zero and, for values such
//	          as "0.10" or 17 significant digits, the exactness money needs. Exactness wins. To compute, cast:
//	          SELECT sum(CAST(total AS NUMERIC)) ... (or CAST(... AS REAL) when floating point is acceptable).
//	Bool      INTEGER 0/1
//	Timestamp TEXT, UTC, fixed width "2006-01-02T15:04:05Z": Coupa sends whole seconds, the fixed width
//	          makes text order equal time order, and SQLite's date functions read it. Sub-seconds are dropped.
//	JSON      TEXT
//	String    TEXT
//
// Every column is declared TEXT or INTEGER only, so no affinity rewrites a value and no driver guesses
// a Go type from a declared type name.
const timeLayout = "2006-01-02T15:04:05Z"

// sqliteMaxVars stays under SQLITE_MAX_VARIABLE_NUMBER (32766) for multi-row INSERTs.
const sqliteMaxVars = 32000

// maxBatchRows caps the rows of one INSERT: beyond a few hundred rows the statement text and its
// bind loop cost more than the per-statement overhead they save.
const maxBatchRows = 256

const stateTable = "_coupa_state"
const runsTable = "_coupa_runs"

// DB is a SQLite warehouse. It implements dest.Destination and dest.Reader.
type DB struct {
	db     *sql.DB
	path   string
	prefix string

	// mu serialises writers: SQLite has one write lock per file, and taking turns here is cheaper and
	// clearer than letting goroutines queue on busy_timeout. It also guards tables.
	mu     sync.Mutex
	tables map[string]*table // by catalog name, parents and children
}

var (
	_ dest.Destination = (*DB)(nil)
	_ dest.Reader      = (*DB)(nil)
)

// Open opens the warehouse at path, creating the file when it does not exist. It refuses a file that is
// not SQLite and an SQLite database that has tables but no _coupa_state (someone else's data), without
// changing either.
func Open(path string, opts dest.Options) (*DB, error) {
	if path == "" {
		return nil, errors.New("sqlite: no database path given")
	}
	if strings.ContainsRune(path, '?') {
		return nil, fmt.Errorf("sqlite: database path %q may not contain '?'", path)
	}
	if err := checkFile(path); err != nil {
		return nil, err
	}
	// busy_timeout: another process (`coupa state show`, a user's sqlite3 shell) may hold the lock briefly.
	// synchronous=NORMAL: in WAL mode a commit is then durable against a crash of the process (kill -9,
	// which the crash tests do) and only the last commits can be lost on a power cut or OS crash, which
	// the resumable checkpoint recovers from anyway; FULL would fsync every page for no gain here.
	// _txlock=immediate: every transaction here writes, so take the write lock at BEGIN rather than
	// failing with SQLITE_BUSY when a read lock cannot be upgraded.
	dsn := path + "?_pragma=busy_timeout(10000)&_pragma=synchronous(NORMAL)&_pragma=cache_size(-32000)&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("sqlite: cannot open %s: %v", path, err)
	}
	// One connection: writes are serialised anyway, prepared statements stay on it, and per-connection
	// pragmas cannot be lost to a second connection the pool opens later.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	d := &DB{db: db, path: path, prefix: opts.Prefix, tables: map[string]*table{}}
	if err := d.init(); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// checkFile gives the one-line errors SQLite would otherwise report as "unable to open database file".
func checkFile(path string) error {
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	if err != nil {
		return fmt.Errorf("sqlite: cannot create %s: directory %s does not exist", path, dir)
	}
	if !fi.IsDir() {
		return fmt.Errorf("sqlite: cannot create %s: %s is not a directory", path, dir)
	}
	fi, err = os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
		if err != nil {
			return fmt.Errorf("sqlite: cannot create %s: %v", path, unwrapPathError(err))
		}
		return f.Close()
	}
	if err != nil {
		return fmt.Errorf("sqlite: cannot open %s: %v", path, unwrapPathError(err))
	}
	if fi.IsDir() {
		return fmt.Errorf("sqlite: %s is a directory; give a database file path such as %s", path, filepath.Join(path, "coupa.db"))
	}
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		return fmt.Errorf("sqlite: cannot write %s: %v", path, unwrapPathError(err))
	}
	defer f.Close()
	header := make([]byte, 16)
	n, err := io.ReadFull(f, header)
	if n == 0 && (err == io.EOF || err == nil) {
		return nil // an empty file is an empty database
	}
	if err != nil || !bytes.Equal(header, []byte("SQLite format 3\x00")) {
		return fmt.Errorf("sqlite: %s is not an SQLite database; choose another path", path)
	}
	return nil
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// init refuses a foreign database before anything is written to it, then turns on WAL (a persistent
// property of the file) and creates the state tables.
func (d *DB) init() error {
	ctx := context.Background()
	names, err := d.tableNames(ctx)
	if err != nil {
		return fmt.Errorf("sqlite: cannot read %s: %v", d.path, err)
	}
	if len(names) > 0 && !contains(names, stateTable) {
		return fmt.Errorf("sqlite: %s is an SQLite database but not a coupa warehouse (it has tables and no %s); choose another path",
			d.path, stateTable)
	}
	var mode string
	if err := d.db.QueryRowContext(ctx, "PRAGMA journal_mode=WAL").Scan(&mode); err != nil {
		return fmt.Errorf("sqlite: cannot enable WAL on %s: %v", d.path, err)
	}
	if !strings.EqualFold(mode, "wal") {
		return fmt.Errorf("sqlite: %s cannot use WAL mode (got %q); put it on a local file system", d.path, mode)
	}
	for _, stmt := range []string{
		// The state key is (prefix, table): two prefixes synced into one file keep separate progress.
		`CREATE TABLE IF NOT EXISTS "_coupa_state" ("prefix" TEXT NOT NULL DEFAULT '', "table_name" TEXT NOT NULL,
			"version" INTEGER NOT NULL, "cursor" TEXT, "window" TEXT, "updated_at" TEXT NOT NULL,
			PRIMARY KEY ("prefix", "table_name"))`,
		`CREATE TABLE IF NOT EXISTS "_coupa_runs" ("id" INTEGER PRIMARY KEY AUTOINCREMENT, "started" TEXT NOT NULL,
			"finished" TEXT, "status" TEXT NOT NULL, "tables" TEXT, "summary" TEXT, "error" TEXT)`,
	} {
		if _, err := d.db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("sqlite: cannot create the state tables in %s: %v", d.path, err)
		}
	}
	return nil
}

func (d *DB) tableNames(ctx context.Context) ([]string, error) {
	rows, err := d.db.QueryContext(ctx, `SELECT name FROM sqlite_master WHERE type = 'table'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var names []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			return nil, err
		}
		names = append(names, n)
	}
	return names, rows.Err()
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Close closes the database; the last connection's close checkpoints the WAL into the file.
func (d *DB) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, t := range d.tables {
		t.closeStmts()
	}
	d.tables = map[string]*table{}
	return d.db.Close()
}

// quote makes s an SQL identifier whatever it contains.
func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

func formatTS(t time.Time) string { return t.UTC().Format(timeLayout) }
