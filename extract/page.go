package extract

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/coupa-connector/coupa-connector/catalog/rowcodec"
	"github.com/coupa-connector/coupa-connector/coupa"
	"github.com/coupa-connector/coupa-connector/dest"
)

func (r *tableRun) pageOptions(w *dest.Window, p dest.Partition) *coupa.ListOptions {
	cursor := strings.ReplaceAll(r.t.Cursor, "-", "_")
	var f []coupa.Filter
	if !w.From.IsZero() {
		f = append(f, coupa.Filter{Field: cursor, Op: coupa.OpGtOrEq, Value: stamp(w.From)})
	}
	f = append(f, coupa.Filter{Field: cursor, Op: coupa.OpLt, Value: stamp(w.To)})
	if p.Hi > 0 {
		f = append(f, coupa.Filter{Field: "id", Op: coupa.OpLtOrEq, Value: fmt.Sprint(p.Hi)})
	}
	lo := max(p.LastID, p.Lo)
	return &coupa.ListOptions{Filters: f, Fields: r.fields, Limit: coupa.MaxPageSize, AfterID: lo}
}

func stamp(t time.Time) string { return t.UTC().Format(time.RFC3339) }

// fetchPage gets one page of the table, read straight into rows. A record the catalog refuses is reported
// as such, not as a broken answer, and is not asked for again.
func (r *tableRun) fetchPage(ctx context.Context, opts *coupa.ListOptions) (*catalog.PageRows, error) {
	var rows *catalog.PageRows
	_, err := r.client.ListPageDecode(ctx, r.t.Resource, opts, func(body []byte) error {
		var err error
		if rows, err = rowcodec.DecodePage(r.t, body); errors.Is(err, rowcodec.ErrBadRecord) {
			return coupa.Refuse(err) // it names the table and the record
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	// Records of a page are a set: in id order, keyset paging does not depend on the server sorting them.
	rows.SortByID()
	return rows, nil
}

// buildPage checks one page against the partition it was asked for and makes the destination's page of it;
// any bad record fails the whole page so that nothing of it is written.
func (r *tableRun) buildPage(rows *catalog.PageRows, p dest.Partition) (*dest.Page, int64, error) {
	lastID := max(p.LastID, p.Lo)
	cursorCol := r.cursorColumn()
	for i, id := range rows.IDs {
		if id <= 0 {
			return nil, 0, fmt.Errorf("table %s: Coupa returned a record without a valid id after id %d", r.t.Name, lastID)
		}
		// Keyset paging relies on ascending ids inside the range; anything else would loop or skip rows.
		if id <= lastID || (p.Hi > 0 && id > p.Hi) {
			return nil, 0, fmt.Errorf("table %s: record id %d is outside the requested keyset range (%d, %s]: the API did not honour id filtering",
				r.t.Name, id, lastID, hiString(p.Hi))
		}
		if cursorCol >= 0 {
			if ts, ok := rows.Rows[i][cursorCol].(time.Time); !ok || ts.IsZero() {
				return nil, 0, fmt.Errorf("table %s: record id %d has no valid %s, so it cannot be synced incrementally", r.t.Name, id, r.t.Cursor)
			}
		}
		lastID = id
	}
	return &dest.Page{Table: r.t, Rows: rows.Rows, Children: rows.Children}, lastID, nil
}

func hiString(hi int64) string {
	if hi == 0 {
		return "∞"
	}
	return fmt.Sprint(hi)
}

// cursorColumn is the position of the cursor's column in the table's rows, -1 when it has none.
func (r *tableRun) cursorColumn() int {
	for i, c := range r.t.Columns {
		if c.Path == r.t.Cursor {
			return i
		}
	}
	return -1
}
