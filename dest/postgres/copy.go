package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A first load is nearly all rows the warehouse has never held. For those, COPY into the table costs
// the server about half of what the unnest upsert does (no arrays to decode, no materialised function
// scan, no speculative insertion), and text rows cost the client a fraction of binary arrays. A page
// takes this path only when each of its parents is provably absent: above the table's highest id when
// this DB first wrote to it, and outside every id range it has committed since (the advisory lock
// keeps other syncs out of the schema). Its children then have no rows to replace. A child key that
// exists after all (a line that moved from another parent) fails the COPY with a unique violation, and
// the page is written again by the upsert.

// freshIDs knows which parent ids cannot be in a table: those above its floor that no commit covered.
type freshIDs struct {
	mu     sync.Mutex
	floors map[string]int64    // table -> highest id when first asked (-1 until known)
	ranges map[string][]idSpan // table -> committed ids, as sorted disjoint spans (a superset is fine)
}

type idSpan struct{ lo, hi int64 }

// spanGap is the largest gap between ids that one span bridges. Bridging only ever makes the set of
// ids taken as written larger, which can send a new page to the upsert but never an old one to COPY.
// It keeps the spans few where ids are dense (a partition's pages join into one span) and must stay
// well under a partition's width, or one partition's written ids would cover the next one's.
const spanGap = 64

// allNew reports whether no parent of pr can already be in its table.
func (f *freshIDs) allNew(ctx context.Context, d *DB, pr *pageRows) (bool, error) {
	if len(pr.ids) == 0 {
		return false, nil
	}
	table := pr.plan.name
	f.mu.Lock()
	floor, known := f.floors[table]
	f.mu.Unlock()
	if !known {
		// The floor is read under the advisory lock: no other sync writes this table afterwards.
		if err := d.lock(ctx); err != nil {
			return false, err
		}
		if err := d.pool.QueryRow(ctx, fmt.Sprintf("SELECT coalesce(max(id), 0) FROM %s", pr.plan.ident)).Scan(&floor); err != nil {
			return false, d.wrap("read the highest id of "+table, err)
		}
		f.mu.Lock()
		if f.floors == nil {
			f.floors = map[string]int64{}
		}
		if prev, ok := f.floors[table]; ok {
			floor = prev
		} else {
			f.floors[table] = floor
		}
		f.mu.Unlock()
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	spans := f.ranges[table]
	for _, s := range spansOf(pr.ids) {
		if s.lo <= floor {
			return false, nil
		}
		// The first span ending at or after s.lo is the only one that can overlap s.
		i := sort.Search(len(spans), func(i int) bool { return spans[i].hi >= s.lo })
		if i < len(spans) && spans[i].lo <= s.hi {
			return false, nil
		}
	}
	return true, nil
}

// written records ids as committed to table.
func (f *freshIDs) written(table string, ids []int64) {
	if len(ids) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ranges == nil {
		f.ranges = map[string][]idSpan{}
	}
	spans := f.ranges[table]
	for _, s := range spansOf(ids) {
		// Insert in order, then fold in the neighbours it now reaches: O(log n) to find, and the spans
		// stay few because a partition's pages arrive in id order and join the span before them.
		i := sort.Search(len(spans), func(i int) bool { return spans[i].hi+spanGap >= s.lo })
		j := i
		for j < len(spans) && spans[j].lo <= s.hi+spanGap {
			s.lo, s.hi = min(s.lo, spans[j].lo), max(s.hi, spans[j].hi)
			j++
		}
		spans = slices.Replace(spans, i, j, s)
	}
	f.ranges[table] = spans
}

// spansOf groups ids into spans, bridging gaps up to spanGap.
func spansOf(ids []int64) []idSpan {
	sorted := slices.Clone(ids)
	slices.Sort(sorted)
	out := []idSpan{{sorted[0], sorted[0]}}
	for _, id := range sorted[1:] {
		last := &out[len(out)-1]
		if id <= last.hi+spanGap {
			last.hi = id
			continue
		}
		out = append(out, idSpan{id, id})
	}
	return out
}

// copyPage opens a transaction on conn and COPYs the page's parents and children into their tables.
func copyPage(ctx context.Context, conn *pgxpool.Conn, pr *pageRows) error {
	if _, err := conn.Exec(ctx, "BEGIN"); err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := copyRows(ctx, conn, pr.plan, pr.parents, &buf); err != nil {
		return err
	}
	for i, cp := range pr.plan.children {
		if err := copyRows(ctx, conn, cp, pr.children[i], &buf); err != nil {
			return err
		}
	}
	return nil
}

func copyRows(ctx context.Context, conn *pgxpool.Conn, plan *tablePlan, rows [][]any, buf *bytes.Buffer) error {
	if len(rows) == 0 {
		return nil
	}
	buf.Reset()
	b := buf.AvailableBuffer()
	for _, row := range rows {
		for i, v := range row {
			if i > 0 {
				b = append(b, '\t')
			}
			b = appendCopyText(b, v)
		}
		b = append(b, '\n')
	}
	buf.Write(b)
	names := make([]string, len(plan.cols))
	for i, c := range plan.cols {
		names[i] = quote(c.name)
	}
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN", plan.ident, strings.Join(names, ", "))
	_, err := conn.Conn().PgConn().CopyFrom(ctx, buf, sql)
	return err
}

// appendCopyText appends v in COPY's text format: \N for NULL, backslash escapes in strings.
func appendCopyText(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, `\N`...)
	case int64:
		return strconv.AppendInt(b, x, 10)
	case bool:
		if x {
			return append(b, 't')
		}
		return append(b, 'f')
	case time.Time:
		return appendTimestamp(b, x)
	case string:
		if !strings.ContainsAny(x, "\\\t\n\r") {
			return append(b, x...)
		}
		for i := 0; i < len(x); i++ {
			switch c := x[i]; c {
			case '\\':
				b = append(b, '\\', '\\')
			case '\t':
				b = append(b, '\\', 't')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			default:
				b = append(b, c)
			}
		}
		return b
	}
	// values() only produces the types above.
	return fmt.Appendf(b, "%v", v)
}

func isUniqueViolation(err error) bool { return sqlState(err) == "23505" }

// isDataException: class 22, a value the server's text input refused.
func isDataException(err error) bool { return strings.HasPrefix(sqlState(err), "22") }

// isRetryable: the server aborted the transaction to break a deadlock or a serialization conflict.
func isRetryable(err error) bool { s := sqlState(err); return s == "40P01" || s == "40001" }

func sqlState(err error) string {
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		return pe.Code
	}
	return ""
}

// rollback ends the transaction on conn; false when the connection is no longer usable.
func rollback(ctx context.Context, conn *pgxpool.Conn) bool {
	_, err := conn.Exec(context.WithoutCancel(ctx), "ROLLBACK")
	return err == nil
}

// appendTimestamp writes t in UTC as 2006-01-02 15:04:05.999999+00: microseconds, as timestamptz keeps
// them, and an explicit offset, so the instant is exact whatever the session's TimeZone. Written by hand:
// time.AppendFormat was a tenth of a page's COPY cost.
func appendTimestamp(b []byte, t time.Time) []byte {
	t = t.UTC()
	year, month, day := t.Date()
	hour, min, sec := t.Clock()
	bc := year < 1 // PostgreSQL has no year 0: 1 BC is Go's year 0
	if bc {
		year = 1 - year
	}
	if year > 9999 {
		b = strconv.AppendInt(b, int64(year), 10)
	} else {
		b = appendDigits(b, year, 4)
	}
	b = append(b, '-')
	b = appendDigits(b, int(month), 2)
	b = append(b, '-')
	b = appendDigits(b, day, 2)
	b = append(b, ' ')
	b = appendDigits(b, hour, 2)
	b = append(b, ':')
	b = appendDigits(b, min, 2)
	b = append(b, ':')
	b = appendDigits(b, sec, 2)
	if us := t.Nanosecond() / 1000; us != 0 {
		b = append(b, '.')
		b = appendDigits(b, us, 6)
	}
	b = append(b, '+', '0', '0')
	if bc {
		b = append(b, " BC"...)
	}
	return b
}

// appendDigits appends v (non-negative) zero-padded to width digits.
func appendDigits(b []byte, v, width int) []byte {
	var d [10]byte
	for i := width - 1; i >= 0; i-- {
		d[i] = byte('0' + v%10)
		v /= 10
	}
	return append(b, d[:width]...)
}
