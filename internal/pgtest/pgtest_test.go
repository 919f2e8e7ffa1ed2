package pgtest

import (
	"context"
	"os"
	"testing"

	"github.com/jackc/pgx/v5"
)

func TestMain(m *testing.M) { Main(m) }

func TestNewDatabaseIsFreshAndDropped(t *testing.T) {
	ctx := context.Background()
	var first string
	t.Run("a", func(t *testing.T) {
		dsn := NewDatabase(t)
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close(ctx)
		if err := conn.QueryRow(ctx, "SELECT current_database()").Scan(&first); err != nil {
			t.Fatal(err)
		}
		if _, err := conn.Exec(ctx, "CREATE TABLE x (id int)"); err != nil {
			t.Fatal(err)
		}
	})
	dsn := NewDatabase(t)
	conn, err := pgx.Connect(ctx, dsn)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var name, version string
	var tables, same int
	if err := conn.QueryRow(ctx, "SELECT current_database(), current_setting('server_version_num'), "+
		"(SELECT count(*) FROM pg_tables WHERE schemaname = 'public'), "+
		"(SELECT count(*) FROM pg_database WHERE datname = $1)", first).Scan(&name, &version, &tables, &same); err != nil {
		t.Fatal(err)
	}
	if name == first || first == "" {
		t.Errorf("second database %q, first %q: want two distinct databases", name, first)
	}
	if tables != 0 {
		t.Errorf("new database has %d tables, want 0", tables)
	}
	if same != 0 {
		t.Errorf("database %q of the finished subtest still exists", first)
	}
	if version[:2] != "15" && os.Getenv(EnvDSN) == "" {
		t.Errorf("server_version_num %s, want PostgreSQL 15", version)
	}
}

func TestWrongPasswordIsRefused(t *testing.T) {
	if os.Getenv(EnvDSN) != "" {
		return // an external server's authentication is not ours to assert
	}
	dsn := NewDatabase(t)
	_, err := pgx.Connect(context.Background(), dsn+" password=wrong")
	if err == nil {
		t.Fatal("connect with a wrong password succeeded: the server must authenticate so that bad-password tests mean something")
	}
}

func TestWithDatabase(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://u:p@h:5/old?sslmode=disable": "postgres://u:p@h:5/new?sslmode=disable",
		"host=/tmp/x user=u dbname=old":          "host=/tmp/x user=u dbname=old dbname='new'",
	} {
		got, err := WithDatabase(in, "new")
		if err != nil || got != want {
			t.Errorf("WithDatabase(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}
