// Command coupa is the open-source connector for Coupa: sync spend data into a warehouse, query and change
// Coupa objects, govern user access, and simulate a Coupa instance. Run `coupa --help`.
package main

import (
	"os"

	"github.com/coupa-connector/coupa-connector/internal/gcpolicy"
)

func main() {
	gcpolicy.Connector()
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
