// Runs the SQL statements of a JSON array read from stdin, in order, in one in-memory DuckDB, and prints
// a JSON array with one result per statement: {"columns": [...], "types": [...], "rows": [{...}, ...]}.
// Values come from getRowObjectsJson: BIGINT and DECIMAL as strings, so nothing goes through a float.
'use strict';
const { DuckDBInstance } = require('@duckdb/node-api');

async function main() {
  const chunks = [];
  for await (const c of process.stdin) chunks.push(c);
  const stmts = JSON.parse(Buffer.concat(chunks).toString('utf8'));
  const db = await DuckDBInstance.create(':memory:');
  const conn = await db.connect();
  // Timestamps with a time zone are rendered in UTC whatever the machine's zone.
  await conn.run("SET TimeZone = 'UTC'");
  const out = [];
  for (let i = 0; i < stmts.length; i++) {
    let r;
    try {
      r = await conn.runAndReadAll(stmts[i]);
    } catch (e) {
      throw new Error(`statement ${i + 1}: ${e.message}`);
    }
    out.push({ columns: r.columnNames(), types: r.columnTypes().map(String), rows: r.getRowObjectsJson() });
  }
  process.stdout.write(JSON.stringify(out));
}

main().catch((e) => {
  process.stderr.write(String(e && e.message ? e.message : e).replace(/\s+/g, ' ').trim() + '\n');
  process.exit(1);
});
