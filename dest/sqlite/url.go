package sqlite

// The sqlite backend of dest.Open: sqlite:PATH (sqlite://PATH too), or a bare PATH ending in .db, .sqlite
// or .sqlite3.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/coupa-connector/coupa-connector/dest"
)

func init() {
	dest.Register(dest.Backend{
		Name:     "sqlite",
		Schemes:  []string{"sqlite"},
		Suffixes: []string{".db", ".sqlite", ".sqlite3"},
		Usage:    []string{"sqlite:PATH", "PATH.db"},
		Target: func(_, rest string) (string, error) {
			path := strings.TrimPrefix(rest, "//")
			if path == "" {
				return "", errors.New("needs a file path, e.g. sqlite:coupa.db")
			}
			return path, nil
		},
		Open: openURL,
	})
}

func openURL(_ context.Context, path string, c *dest.OpenConfig) (dest.Destination, error) {
	if c.MustExist {
		if _, err := os.Stat(path); err != nil {
			return nil, fmt.Errorf("%w at %s", dest.ErrNoWarehouse, path)
		}
	}
	db, err := Open(path, c.Options)
	if err != nil {
		return nil, err
	}
	return db, nil
}
