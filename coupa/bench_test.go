package coupa

import (
	"encoding/json"
	"fmt"
	"testing"
)

// invoicePage builds a 50-invoice JSON page shaped like Coupa's answers: dashed keys, decimal strings,
// datetimes with offsets, embedded associations and 3-8 lines per invoice.
func invoicePage(tb testing.TB) []byte {
	tb.Helper()
	user := func(id int) map[string]any {
		return map[string]any{"id": id, "login": fmt.Sprintf("user%d", id), "email": fmt.Sprintf("user%d@acme.example", id),
			"firstname": "Pat", "lastname": "Lee", "employee-number": fmt.Sprintf("E%05d", id)}
	}
	page := make([]map[string]any, 50)
	for i := range page {
		id := 100000 + i*7
		lines := make([]map[string]any, 3+i%6)
		for j := range lines {
			lines[j] = map[string]any{
				"id": id*10 + j, "line-num": j + 1, "description": "Consulting services, phase " + fmt.Sprint(j),
				"quantity": "2.0", "price": "125.50", "total": "251.00", "type": "InvoiceQuantityLine",
				"po-number": fmt.Sprintf("PO-%d", 5000+i), "order-line-num": j + 1,
				"account": map[string]any{"id": 77, "name": "Marketing-US", "code": "4100-200", "active": true,
					"account-type-id": 3, "segment-1": "4100", "segment-2": "200"},
				"commodity":     map[string]any{"id": 12, "name": "Professional Services"},
				"custom-fields": map[string]any{"project-code": "PRJ-9", "cost-center": nil},
				"created-at":    "2024-04-01T02:16:48+03:00", "updated-at": "2024-04-02T10:00:00+03:00",
			}
		}
		page[i] = map[string]any{
			"id": id, "invoice-number": fmt.Sprintf("INV-%06d", id), "status": "approved",
			"created-at": "2024-04-01T02:16:48+03:00", "updated-at": "2024-04-03T09:12:00+03:00",
			"invoice-date": "2024-04-01T00:00:00+03:00", "total-with-taxes": "1506.00", "gross-total": "1506.00",
			"tax-amount": "0.00", "exported": false, "last-exported-at": nil, "line-level-taxation": false,
			"document-type": "Invoice", "is-credit-note": false, "line-count": len(lines),
			"currency":     map[string]any{"id": 1, "code": "USD", "decimals": 2},
			"payment-term": map[string]any{"id": 4, "code": "Net 30", "description": "Net 30 days"},
			"supplier":     map[string]any{"id": 900 + i, "name": "Acme Supplies", "number": fmt.Sprint(9000 + i)},
			"created-by":   user(10), "updated-by": user(11),
			"custom-fields": map[string]any{"region": map[string]any{"id": 3, "active": true, "name": "EMEA", "external-ref-num": "R3"}},
			"invoice-lines": lines,
		}
	}
	b, err := json.Marshal(page)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

func BenchmarkDecodeInvoicePage(b *testing.B) {
	body := invoicePage(b)
	b.SetBytes(int64(len(body)))
	b.ReportAllocs()
	for b.Loop() {
		recs, err := decodeRecords(body)
		if err != nil || len(recs) != 50 {
			b.Fatalf("decoded %d records: %v", len(recs), err)
		}
	}
}
