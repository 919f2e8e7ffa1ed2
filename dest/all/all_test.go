package all_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/coupa-connector/coupa-connector/dest"
	_ "github.com/coupa-connector/coupa-connector/dest/all"
	"github.com/coupa-connector/coupa-connector/dest/parquet"
	"github.com/coupa-connector/coupa-connector/dest/postgres"
	"github.com/coupa-connector/coupa-connector/dest/sqlite"
	"github.com/coupa-connector/coupa-connector/internal/pgtest"
)

func TestMain(m *testing.M) { pgtest.Main(m) }

// TestOpen opens every scheme the three backends register, and checks what each URL became.
func TestOpen(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	pg := pgtest.NewDatabaseURL(t)
	for _, tc := range []struct {
		url  string
		opts []dest.OpenOption
		want func(dest.Destination) bool
	}{
		{url: "sqlite:" + filepath.Join(dir, "a.db"), want: isSQLite},
		{url: "SQLite://" + filepath.Join(dir, "b.db"), want: isSQLite},
		{url: filepath.Join(dir, "c.DB"), want: isSQLite},
		{url: filepath.Join(dir, "d.sqlite3"), opts: []dest.OpenOption{dest.WithPrefix("p_")}, want: isSQLite},
		{url: "parquet:" + filepath.Join(dir, "lake"), want: isParquet},
		{url: pg, want: inSchema(postgres.DefaultSchema)},
		{url: "postgresql" + strings.TrimPrefix(pg, "postgres"), opts: []dest.OpenOption{postgres.WithSchema("finance")},
			want: inSchema("finance")},
	} {
		d, err := dest.Open(ctx, tc.url, tc.opts...)
		if err != nil {
			t.Errorf("Open(%q): %v", tc.url, err)
			continue
		}
		if !tc.want(d) {
			t.Errorf("Open(%q) = %T, not the backend expected", tc.url, d)
		}
		d.Close()
	}
}

func isSQLite(d dest.Destination) bool { _, ok := d.(*sqlite.DB); return ok }

func isParquet(d dest.Destination) bool { _, ok := d.(*parquet.Dir); return ok }

func inSchema(schema string) func(dest.Destination) bool {
	return func(d dest.Destination) bool { pg, ok := d.(*postgres.DB); return ok && pg.Schema() == schema }
}

// TestOpenRefuses checks the errors of URLs no backend reads, of a warehouse that must exist, and of an
// option for another backend; nothing may be created by any of them.
func TestOpenRefuses(t *testing.T) {
	dir := t.TempDir()
	const use = "use parquet:DIR, postgres://..., sqlite:PATH or PATH.db"
	for _, tc := range []struct {
		url  string
		opts []dest.OpenOption
		want string
	}{
		{url: "", want: "destination is empty: " + use},
		{url: "sqlite:", want: "destination sqlite: needs a file path, e.g. sqlite:coupa.db"},
		{url: "sqlite://", want: "destination sqlite: needs a file path, e.g. sqlite:coupa.db"},
		{url: "parquet:", want: "destination parquet: needs a directory, e.g. parquet:./warehouse"},
		{url: "postgres:db", want: "destination postgres: needs a URL, e.g. postgres://user@host/db"},
		{url: "mysql://x", want: `destination "mysql://x" is not a destination I know: ` + use},
		{url: "coupa", want: `destination "coupa" is not a destination I know: ` + use},
		{url: "sqlite:" + filepath.Join(dir, "w.db"), opts: []dest.OpenOption{dest.MustExist()},
			want: "no warehouse at " + filepath.Join(dir, "w.db")},
		{url: "parquet:" + filepath.Join(dir, "lake"), opts: []dest.OpenOption{dest.MustExist()},
			want: "no warehouse at " + filepath.Join(dir, "lake")},
		{url: "sqlite:" + filepath.Join(dir, "w.db"), opts: []dest.OpenOption{postgres.WithSchema("x")},
			want: "sqlite: an option of the postgres destination does not apply here"},
		{url: "sqlite:" + filepath.Join(dir, "no", "w.db"), want: "directory " + filepath.Join(dir, "no") + " does not exist"},
	} {
		d, err := dest.Open(context.Background(), tc.url, tc.opts...)
		if err == nil {
			d.Close()
			t.Errorf("Open(%q) succeeded, want %q", tc.url, tc.want)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %q, want %q", tc.url, err, tc.want)
		}
		if strings.HasPrefix(tc.want, "no warehouse") && !errors.Is(err, dest.ErrNoWarehouse) {
			t.Errorf("Open(%q) = %v, not an ErrNoWarehouse", tc.url, err)
		}
	}
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("refused opens left %v behind", entries)
	}
}

// TestRegisterTwice: a second backend for a scheme already taken is a programming error, as in database/sql.
func TestRegisterTwice(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("registering sqlite again did not panic")
		}
	}()
	dest.Register(dest.Backend{Name: "sqlite2", Schemes: []string{"sqlite"},
		Target: func(_, rest string) (string, error) { return rest, nil },
		Open:   func(context.Context, string, *dest.OpenConfig) (dest.Destination, error) { return nil, nil }})
}
