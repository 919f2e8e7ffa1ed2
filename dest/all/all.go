// Package all links every destination backend into a program, so that dest.Open reads all their URLs:
// sqlite:PATH, postgres://..., parquet:DIR. Import it for its side effect; a new backend is added here once.
package all

import (
	// Each backend registers its schemes with dest.Register from its init.
	_ "github.com/coupa-connector/coupa-connector/dest/parquet"
	_ "github.com/coupa-connector/coupa-connector/dest/postgres"
	_ "github.com/coupa-connector/coupa-connector/dest/sqlite"
)
