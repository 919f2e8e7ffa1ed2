// Package rowcodec turns Coupa API records into the warehouse rows the catalog describes: Rows for one
// decoded record, DecodePage for a whole list answer read straight from its bytes.
//
// The catalog stays data: the tables, their row layouts, PageRows, and the `fields` projection
// (Table.Fields), which is derived from the columns alone and is what a request asks for, not how an answer
// is read. What this package compiles from a table, once, is cached here by *catalog.Table.
package rowcodec
