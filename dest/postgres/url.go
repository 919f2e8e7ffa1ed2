package postgres

// The postgres backend of dest.Open: postgres://... and postgresql://... URLs, and WithSchema for the
// schema the tables go into.

import (
	"context"
	"errors"
	"strings"

	"github.com/coupa-connector/coupa-connector/dest"
)

// name is this backend's dest.Backend.Name.
const backendName = "postgres"

func init() {
	dest.Register(dest.Backend{
		Name:    backendName,
		Schemes: []string{"postgres", "postgresql"},
		Usage:   []string{"postgres://..."},
		Target: func(raw, rest string) (string, error) {
			// Only the URL form: a keyword/value DSN has no scheme to be recognised by.
			if !strings.HasPrefix(rest, "//") {
				return "", errors.New("needs a URL, e.g. postgres://user@host/db")
			}
			return raw, nil
		},
		Open: openURL,
	})
}

// schemaKey is the key of WithSchema's value in a dest.OpenConfig.
type schemaKey struct{}

// WithSchema is Options.Schema for dest.Open: the schema that holds the tables ("" = the DSN's search_path,
// else DefaultSchema).
func WithSchema(schema string) dest.OpenOption {
	return dest.WithBackendOption(backendName, schemaKey{}, schema)
}

// openURL connects to the DSN. dest.MustExist needs nothing here: Open never creates a database, and an
// empty one reads as a warehouse without state, as it always has for `coupa state`.
func openURL(ctx context.Context, dsn string, c *dest.OpenConfig) (dest.Destination, error) {
	schema, _ := c.Value(schemaKey{})
	s, _ := schema.(string)
	db, err := Open(ctx, dsn, Options{Options: c.Options, Schema: s})
	if err != nil {
		return nil, err
	}
	return db, nil
}
