package parquet

// The parquet backend of dest.Open: parquet:DIR, a lake in a local directory.

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/coupa-connector/coupa-connector/dest"
)

func init() {
	dest.Register(dest.Backend{
		Name:    "parquet",
		Schemes: []string{"parquet"},
		Usage:   []string{"parquet:DIR"},
		Target: func(_, rest string) (string, error) {
			if rest == "" {
				return "", errors.New("needs a directory, e.g. parquet:./warehouse")
			}
			return rest, nil
		},
		Open: openURL,
	})
}

// openURL opens the lake at target, everything after "parquet:". Today that is a directory; a lake in an
// object store (parquet:s3://bucket/prefix) would be told apart here, by the target's own scheme.
func openURL(_ context.Context, dir string, c *dest.OpenConfig) (dest.Destination, error) {
	if c.MustExist {
		if _, err := os.Stat(dir); err != nil {
			return nil, fmt.Errorf("%w at %s", dest.ErrNoWarehouse, dir)
		}
	}
	d, err := Open(dir, c.Options)
	if err != nil {
		return nil, err
	}
	return d, nil
}
