package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"net"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/coupa-connector/coupa-connector/catalog"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgproto3"
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

// allNew reports whether none of ids can already be in plan's table.
func (f *freshIDs) allNew(ctx context.Context, d *DB, plan *tablePlan, ids []int64) (bool, error) {
	if len(ids) == 0 {
		return false, nil
	}
	table := plan.name
	f.mu.Lock()
	floor, known := f.floors[table]
	f.mu.Unlock()
	if !known {
		// The floor is read under the advisory lock: no other sync writes this table afterwards.
		if err := d.lock(ctx); err != nil {
			return false, err
		}
		if err := d.pool.QueryRow(ctx, fmt.Sprintf("SELECT coalesce(max(id), 0) FROM %s", plan.ident)).Scan(&floor); err != nil {
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
	for _, s := range spansOf(ids) {
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

// copyPage opens a transaction on conn and COPYs the page's parents and children into their tables, in
// one round trip: a simple query "BEGIN; COPY ...; COPY ..." followed at once by each COPY's data and end
// (CopyData, CopyDone), all in one write, then the answers read up to ReadyForQuery. pgconn's CopyFrom
// takes a round trip per COPY (and a goroutine), and BEGIN one of its own.
//
// The protocol makes this safe: the server reads the data of a COPY only once it runs it, and after an
// error it skips the rest of the query and drops every CopyData and CopyDone still coming, so the
// connection is back in step at ReadyForQuery, inside a failed transaction the caller rolls back. The
// server's answers are a few small messages, which never fill the socket while the data is written.
func copyPage(ctx context.Context, conn *pgxpool.Conn, pr *pageRows) error {
	pc := conn.Conn().PgConn()
	if err := pc.SyncConn(ctx); err != nil {
		return err
	}
	msg := getBuf()
	defer putBuf(msg)
	b := append(*msg, 'Q', 0, 0, 0, 0)
	b = append(b, "BEGIN"...)
	tables := make([]*tableRows, 0, 1+len(pr.children))
	for _, t := range append([]*tableRows{pr.parents}, pr.children...) {
		if len(t.rows) > 0 {
			tables = append(tables, t)
			b = append(b, "; "...)
			b = append(b, t.plan.copy...)
		}
	}
	b = append(b, 0)
	binary.BigEndian.PutUint32(b[1:], uint32(len(b)-1))
	wire := net.Buffers{b}
	for _, t := range tables {
		at := len(b)
		b = append(b, 'd')
		b = binary.BigEndian.AppendUint32(b, uint32(4+len(*t.buf)))
		wire = append(wire, b[at:], *t.buf)
		at = len(b)
		b = append(b, 'c', 0, 0, 0, 4)
		// Slices of b taken before an append that moved it still hold their bytes.
		wire = append(wire, b[at:])
	}
	*msg = b

	nc := pc.Conn()
	stop := context.AfterFunc(ctx, func() { nc.SetWriteDeadline(time.Unix(1, 0)) })
	_, err := wire.WriteTo(nc)
	if !stop() {
		// The context ended during the write, which may have been cut short: the stream is broken.
		return fmt.Errorf("send page: %w", context.Cause(ctx))
	}
	if err != nil {
		return fmt.Errorf("send page: %w", err)
	}
	var failed error
	for {
		m, err := pc.ReceiveMessage(ctx)
		if err != nil {
			return err
		}
		switch m := m.(type) {
		case *pgproto3.ErrorResponse:
			if failed == nil {
				failed = pgconn.ErrorResponseToPgError(m)
			}
		case *pgproto3.ReadyForQuery:
			if failed == nil && m.TxStatus != 'T' {
				return fmt.Errorf("COPY ended outside its transaction (status %c)", m.TxStatus)
			}
			return failed
		}
	}
}

// copyHeader starts COPY's binary format: the signature, no flags, no header extension.
const copyHeader = "PGCOPY\n\xff\r\n\x00" + "\x00\x00\x00\x00" + "\x00\x00\x00\x00"

// appendCopyBinary appends v, a value of a column of type t as dest.Normalize makes it, as one field of COPY's
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
		return appendTimestamp(b, x)
	case string:
		if t == catalog.Decimal {
			if nb, ok := appendNumeric(b, x); ok {
				return nb
			}
			panic("postgres: a decimal that dest.Normalize let through is not one")
		}
		b = binary.BigEndian.AppendUint32(b, uint32(len(x)))
		return append(b, x...)
	}
	// values() only produces the types above.
	panic(fmt.Sprintf("postgres: no binary COPY form for %T", v))
}

// pgEpochMicros is 2000-01-01T00:00:00Z, where PostgreSQL counts timestamps from, in Unix microseconds.
const pgEpochMicros = 946_684_800_000_000

// appendNumeric appends the decimal s as a numeric field, or reports false (and b unchanged) when s is
// not a plain decimal (dest.ValidDecimal's rule). The field: the count of base-10000 digits, the weight of
// the first, the sign, the display scale (the decimals s was written with, so "1.50" stays 1.50), then
// the digits; leading and trailing zero digits are left out, and zero has none.
func appendNumeric(b []byte, s string) ([]byte, bool) {
	i, neg := 0, false
	if i < len(s) && (s[i] == '-' || s[i] == '+') {
		neg = s[i] == '-'
		i++
	}
	// The digits' values are gathered as they are checked, for the short way below; they overflow
	// harmlessly for longer numbers, which take the long way.
	ws, w := i, uint64(0)
	for i < len(s) && s[i]-'0' <= 9 {
		w = w*10 + uint64(s[i]-'0')
		i++
	}
	whole, frac, f := s[ws:i], "", uint64(0)
	if i < len(s) && s[i] == '.' {
		i++
		fs := i
		for i < len(s) && s[i]-'0' <= 9 {
			f = f*10 + uint64(s[i]-'0')
			i++
		}
		frac = s[fs:i]
	}
	if i != len(s) || len(whole)+len(frac) == 0 {
		return b, false
	}
	if len(whole) <= 8 && len(frac) <= 8 {
		return appendShortNumeric(b, neg, uint32(w), uint32(f)*pow10x8[len(frac)], len(frac)), true
	}
	return appendLongNumeric(b, neg, whole, frac), true
}

// appendLongNumeric appends the numeric field of a decimal with more than eight digits on a side of its
// point, given as its digits: whole before the point and frac after, both checked by appendNumeric.
func appendLongNumeric(b []byte, neg bool, whole, frac string) []byte {
	for len(whole) > 0 && whole[0] == '0' {
		whole = whole[1:]
	}
	start := len(b)
	b = append(b, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0) // length, digits, weight, sign, scale: set below
	// Digits group by four from the decimal point: the whole part is padded on the left and the fraction
	// on the right to whole groups. Leading zero groups are skipped (each lowers the weight) and the
	// trailing ones cut off at the end.
	lead := (4 - len(whole)%4) % 4
	weight := (lead+len(whole))/4 - 1
	end, seen := len(b), false
	digit := func(d uint16) {
		if !seen && d == 0 {
			weight--
			return
		}
		seen = true
		b = binary.BigEndian.AppendUint16(b, d)
		if d != 0 {
			end = len(b)
		}
	}
	for k := -lead; k < len(whole); k += 4 {
		if k >= 0 {
			digit(group4(whole[k : k+4]))
		} else {
			digit(group(whole, k))
		}
	}
	for k := 0; k < len(frac); k += 4 {
		if k+4 <= len(frac) {
			digit(group4(frac[k : k+4]))
		} else {
			digit(group(frac, k))
		}
	}
	b = b[:end]
	ndigits := (end - start - 12) / 2
	sign := uint16(0)
	if neg && ndigits > 0 {
		sign = 0x4000
	}
	if ndigits == 0 {
		weight = 0
	}
	dscale := len(frac)
	if weight > math.MaxInt16 || weight < math.MinInt16 || dscale > 0x3fff {
		// Beyond numeric's binary form: a scale the server refuses (22P03), so that the page is upserted
		// and numeric's text input decides.
		weight, dscale = 0, 0xffff
	}
	h := b[start : start+12]
	binary.BigEndian.PutUint32(h, uint32(8+2*ndigits))
	binary.BigEndian.PutUint64(h[4:], uint64(ndigits)<<48|uint64(uint16(int16(weight)))<<32|uint64(sign)<<16|uint64(dscale))
	return b
}

// pow10x8[n] scales a fraction of n digits to eight.
var pow10x8 = [9]uint32{1e8, 1e7, 1e6, 1e5, 1e4, 1e3, 1e2, 1e1, 1}

// appendShortNumeric appends the numeric field of a decimal of at most eight digits on either side of
// its point, most money amounts: whole < 10^8, frac its fraction in units of 10^-8, scale its decimals.
// Its base-10000 digits are at most four, of weights 1, 0, -1 and -2.
func appendShortNumeric(b []byte, neg bool, whole, frac uint32, scale int) []byte {
	g := [4]uint16{uint16(whole / 10000), uint16(whole % 10000), uint16(frac / 10000), uint16(frac % 10000)}
	first, last := 0, 3
	for first < 4 && g[first] == 0 {
		first++
	}
	for last >= first && g[last] == 0 {
		last--
	}
	n, weight, sign := last-first+1, 1-first, uint16(0)
	if n == 0 {
		weight = 0
	} else if neg {
		sign = 0x4000
	}
	b = binary.BigEndian.AppendUint32(b, uint32(8+2*n))
	b = binary.BigEndian.AppendUint64(b, uint64(n)<<48|uint64(uint16(int16(weight)))<<32|uint64(sign)<<16|uint64(scale))
	for _, d := range g[first : last+1] {
		b = binary.BigEndian.AppendUint16(b, d)
	}
	return b
}

// group4 is the base-10000 digit of four decimal digits.
func group4(s string) uint16 {
	_ = s[3]
	return uint16(s[0]-'0')*1000 + uint16(s[1]-'0')*100 + uint16(s[2]-'0')*10 + uint16(s[3]-'0')
}

// group is the base-10000 digit of the four decimal digits of str from index from, zeros outside str:
// the first group of a whole part (from < 0) or the last of a fraction (from+4 > len(str)).
func group(str string, from int) uint16 {
	if from < 0 {
		return atoi4(str[:from+4])
	}
	return atoi4(str[from:]) * pow10[4-(len(str)-from)]
}

var pow10 = [5]uint16{1, 10, 100, 1000, 10000}

// atoi4 is the value of up to four decimal digits.
func atoi4(s string) uint16 {
	var d uint16
	for i := 0; i < len(s); i++ {
		d = d*10 + uint16(s[i]-'0')
	}
	return d
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
