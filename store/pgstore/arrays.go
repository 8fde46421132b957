package pgstore

import "github.com/jackc/pgx/v5/pgtype"

// arrayOf passes s to pgx as an array parameter whose elements pgx reads
// through pointers into s. pgx takes each element of an array as an
// `any`, and putting a string, a slice or a struct into an `any` is a heap
// allocation of its own: about twenty per task at intake, which the
// garbage collector then has to find. A pointer in an `any` is not one.
func arrayOf[T any](s []T) pgtype.FlatArray[*T] {
	p := make([]*T, len(s))
	for i := range s {
		p[i] = &s[i]
	}
	return p
}
