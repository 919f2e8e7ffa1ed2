package sim

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"syscall"
	"testing"
)

// BenchmarkListInvoicesPage measures one 50-invoice JSON page of a keyset sync over 100k invoices,
// through the full handler (auth, query, render, encode), without the network.
func BenchmarkListInvoicesPage(b *testing.B) { benchList(b, "") }

// projectedFields is a `fields` parameter shaped like a sync's: most attributes, stubs of associations,
// lines with their own associations.
const projectedFields = `["id","created_at","updated_at","invoice_number","invoice_date","status","document_type",` +
	`"total_with_taxes","gross_total","tax_amount","exported","last_exported_at","net_due_date",` +
	`{"currency":["code"]},{"supplier":["id","name","number"]},{"created_by":["id","login"]},` +
	`{"custom_fields":["project_code","cost_center_override"]},` +
	`{"invoice_lines":["id","line_num","description","total",{"account":["id","code"]},{"commodity":["name"]}]},` +
	`{"invoice_charges":["id","line_num","type","total"]}]`

// BenchmarkListInvoicesPageProjected is the same page with a sync's fields projection.
func BenchmarkListInvoicesPageProjected(b *testing.B) {
	benchList(b, "&fields="+url.QueryEscape(projectedFields))
}

func benchList(b *testing.B, extra string) {
	s, err := New(Options{Scale: 100_000, Rate: -1})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	tok := mintDirect(b, s)
	from := url.QueryEscape("2000-01-01T00:00:00Z")
	to := url.QueryEscape("2100-01-01T00:00:00Z")
	b.ReportAllocs()
	cpu0 := cpuTime()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			last := (i * 997) % 99_000
			i++
			req := httptest.NewRequest("GET", "/api/invoices?updated_at[gt_or_eq]="+from+"&updated_at[lt]="+to+
				"&id[gt]="+strconv.Itoa(last)+"&limit=50"+extra, nil)
			req.Header.Set("Authorization", "Bearer "+tok)
			req.Header.Set("Accept", "application/json")
			w := httptest.NewRecorder()
			s.ServeHTTP(w, req)
			if w.Code != 200 || w.Body.Len() < 50*300 {
				b.Fatalf("status %d, %d bytes", w.Code, w.Body.Len())
			}
		}
	})
	b.StopTimer()
	// CPU time per page is what the simulator costs, whatever else the machine is running.
	b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
}

func cpuTime() int64 {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return ru.Utime.Nano() + ru.Stime.Nano()
}

func mintDirect(b testing.TB, s *Server) string {
	c := s.DefaultClient()
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {c.ID}, "client_secret": {c.Secret}}
	req := httptest.NewRequest("POST", "/oauth2/token", nil)
	req.PostForm = form
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	w := httptest.NewRecorder()
	s.ServeHTTP(w, req)
	if w.Code != http.StatusOK {
		b.Fatalf("token: %d %s", w.Code, w.Body)
	}
	body := w.Body.String()
	start := len(`{"access_token":"`)
	return body[start : start+48]
}
