package coupa_test

import (
	"context"
	"fmt"
	"log"
	"os"

	"github.com/coupa-connector/coupa-connector/coupa"
)

// Stream approved, not yet exported invoices, then mark each one exported.
func ExampleClient_List() {
	c, err := coupa.New(coupa.Config{
		Host:         "acme.coupahost.com",
		ClientID:     os.Getenv("COUPA_CLIENT_ID"),
		ClientSecret: os.Getenv("COUPA_CLIENT_SECRET"),
		Scopes:       []string{"core.invoice.read", "core.invoice.write"},
	})
	if err != nil {
		log.Fatal(err)
	}
	ctx := context.Background()
	opts := &coupa.ListOptions{
		Filters: []coupa.Filter{
			{Field: "status", Value: "approved"},
			{Field: "exported", Value: "false"},
			{Field: "supplier.name", Op: coupa.OpStartsWith, Value: "Acme"},
		},
		Fields: []any{"id", "invoice-number", "total-with-taxes", map[string][]any{"supplier": {"name"}}},
	}
	for inv, err := range c.List(ctx, "invoices", opts) {
		if coupa.IsForbidden(err) {
			log.Fatal("the OAuth2 client lacks core.invoice.read")
		}
		if err != nil {
			log.Fatal(err)
		}
		id, _ := inv.ID()
		fmt.Println(id, inv["invoice-number"], inv["total-with-taxes"])
		if _, _, err := c.MarkExported(ctx, "invoices", id); err != nil {
			log.Fatal(err)
		}
	}
}
