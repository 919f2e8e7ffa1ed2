package postgres

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// A first load is nearly all rows the warehouse has never held. For those, COPY into the table costs
// the server about half of what the unnest upsert does (no arrays to decode, no materialised function
// scan, no speculative insertion), and COPY's binary rows cost the client a fraction of the arrays. A page
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
	b := append(buf.AvailableBuffer(), copyHeader...)
	for _, row := range rows {
		b = binary.BigEndian.AppendUint16(b, uint16(len(row)))
		for i, v := range row {
			b = appendCopyBinary(b, plan.cols[i].typ, v)
		}
	}
	b = binary.BigEndian.AppendUint16(b, 0xffff) // the trailer: a tuple of -1 fields
	buf.Write(b)
	names := make([]string, len(plan.cols))
	for i, c := range plan.cols {
		names[i] = quote(c.name)
	}
	sql := fmt.Sprintf("COPY %s (%s) FROM STDIN WITH (FORMAT binary)", plan.ident, strings.Join(names, ", "))
	_, err := conn.Conn().PgConn().CopyFrom(ctx, buf, sql)
	return err
}

// copyHeader starts COPY's binary format: the signature, no flags, no header extension.
const copyHeader = "PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

// appendCopyBinary appends v, a value of a column of type t as values() makes it, as one field of COPY's
// binary format: its length, then the type's binary form (bigint, boolean, timestamptz, numeric, text and
// json, the types the tables are created with). Binary spares the server parsing text: datetimes above
// all, the costliest input to parse, of which an invoice has several. A column whose type was changed
// by hand refuses the field (SQLSTATE 22P03) and the page is upserted instead.
func appendCopyBinary(b []byte, t catalog.Type, v any) []byte {
	if v == nil {
		return binary.BigEndian.AppendUint32(b, 0xffffffff) // -1: NULL
	}
	switch x := v.(type) {
	case int64:
		b = binary.BigEndian.AppendUint32(b, 8)
		return binary.BigEndian.AppendUint64(b, uint64(x))
	case bool:
		b = binary.BigEndian.AppendUint32(b, 1)
		if x {
			return append(b, 1)
		}
		return append(b, 0)
	case time.Time:
		us := x.UnixMicro() - pgEpochMicros
		if y := x.Year(); y > 290_000 || y < -290_000 {
			// Beyond what int64 microseconds hold, and far beyond timestamptz's range (294276 AD): a value
			// the server refuses as out of range, so that the page is upserted and the error is its own.
			us = math.MaxInt64 - 1
		}
		b = binary.BigEndian.AppendUint32(b, 8)
		return binary.BigEndian.AppendUint64(b, uint64(us))
	case string:
		if t == catalog.Decimal {
			return appendNumeric(b, x)
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(x)))
		return append(b, x...)
	}
	// values() only produces the types above.
	panic(fmt.Sprintf("postgres: no binary COPY form for %T", v))
}

// pgEpochMicros is 2000-01-01T00:00:00Z, where PostgreSQL counts timestamps from, in Unix microseconds.
const pgEpochMicros = 946_684_800_000_000

// appendNumeric appends the decimal s (dest.ValidDecimal) as a numeric field: the count of base-10000
// digits, the weight of the first, the sign, the display scale (the decimals s was written with, so
// "1.50" stays 1.50), then the digits; leading and trailing zero digits are left out, and zero has none.
func appendNumeric(b []byte, s string) []byte {
	neg := s[0] == '-'
	if s[0] == '-' || s[0] == '+' {
		s = s[1:]
	}
	whole, frac, _ := strings.Cut(s, ".")
	whole = strings.TrimLeft(whole, "0")
	// Digits group by four from the decimal point: pad the whole part on the left and the fraction on
	// the right to whole groups.
	lead := (4 - len(whole)%4) % 4
	weight := (lead+len(whole))/4 - 1
	var digits []uint16
	group := func(str string, from int) uint16 {
		var d uint16
		for i := from; i < from+4; i++ {
			d *= 10
			if i >= 0 && i < len(str) {
				d += uint16(str[i] - '0')
			}
		}
		return d
	}
	for i := -lead; i < len(whole); i += 4 {
		digits = append(digits, group(whole, i))
	}
	for i := 0; i < len(frac); i += 4 {
		digits = append(digits, group(frac, i))
	}
	for len(digits) > 0 && digits[0] == 0 {
		digits = digits[1:]
		weight--
	}
	for len(digits) > 0 && digits[len(digits)-1] == 0 {
		digits = digits[:len(digits)-1]
	}
	sign := uint16(0)
	if neg && len(digits) > 0 {
		sign = 0x4000
	}
	if len(digits) == 0 {
		weight = 0
	}
	dscale := len(frac)
	if weight > math.MaxInt16 || weight < math.MinInt16 || dscale > 0x3fff {
		// Beyond numeric's binary form: a scale the server refuses (22P03), so that the page is upserted
		// and numeric's text input decides.
		weight, dscale = 0, 0xffff
	}
	b = binary.BigEndian.AppendUint32(b, uint32(8+2*len(digits)))
	b = binary.BigEndian.AppendUint16(b, uint16(len(digits)))
	b = binary.BigEndian.AppendUint16(b, uint16(int16(weight)))
	b = binary.BigEndian.AppendUint16(b, sign)
	b = binary.BigEndian.AppendUint16(b, uint16(dscale))
	for _, d := range digits {
		b = binary.BigEndian.AppendUint16(b, d)
	}
	return b
}

func isUniqueViolation(err error) bool { return sqlState(err) == "23505" }

// isDataException: class 22, a value the server's input refused (out of range, malformed).
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
