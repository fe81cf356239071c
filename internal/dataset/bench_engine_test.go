package dataset

import (
	"bufio"
	"encoding/csv"
	"fmt"
	"io"
	"os"
	"runtime"
	"testing"
	"time"
	"unsafe"

	"modernc.org/libc"
	sqlite3 "modernc.org/sqlite/lib"
)

// rawImport does sqlite3's .import work (the same file, the same keyed table, one
// transaction, a prepared single-row INSERT stepped per record) through the C API of the
// SQLite that modernc.org/sqlite compiles to Go, without database/sql and the driver's
// per-value copies: how fast the pure-Go engine itself is against native sqlite3.
func rawImport(b *testing.B, dbFile, csvFile, cols string) float64 {
	tls := libc.NewTLS()
	defer tls.Close()
	cstr := func(s string) uintptr {
		p, err := libc.CString(s)
		if err != nil {
			b.Fatal(err)
		}
		return p
	}
	check := func(db uintptr, rc int32) {
		if rc != sqlite3.SQLITE_OK && rc != sqlite3.SQLITE_DONE {
			b.Fatalf("sqlite rc %d: %s", rc, libc.GoString(sqlite3.Xsqlite3_errmsg(tls, db)))
		}
	}
	exec := func(db uintptr, q string) {
		p := cstr(q)
		defer libc.Xfree(tls, p)
		check(db, sqlite3.Xsqlite3_exec(tls, db, p, 0, 0, 0))
	}
	handle := new(uintptr) // out-parameter of open and prepare (Go heap objects do not move)
	out := uintptr(unsafe.Pointer(handle))
	name := cstr(dbFile)
	defer libc.Xfree(tls, name)
	check(0, sqlite3.Xsqlite3_open_v2(tls, name, out, sqlite3.SQLITE_OPEN_READWRITE|sqlite3.SQLITE_OPEN_CREATE, 0))
	db := *handle
	defer sqlite3.Xsqlite3_close_v2(tls, db)
	exec(db, "PRAGMA journal_mode=WAL")
	exec(db, fmt.Sprintf("CREATE TABLE ent ("+cols+")", " PRIMARY KEY"))

	start := time.Now()
	in, err := os.Open(csvFile)
	if err != nil {
		b.Fatal(err)
	}
	defer in.Close()
	cr := csv.NewReader(bufio.NewReaderSize(in, 1<<20))
	cr.ReuseRecord = true
	cr.Read() // header
	q := cstr("INSERT INTO ent VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)")
	defer libc.Xfree(tls, q)
	check(db, sqlite3.Xsqlite3_prepare_v2(tls, db, q, -1, out, 0))
	stmt := *handle
	defer sqlite3.Xsqlite3_finalize(tls, stmt)
	buf := make([]byte, 1<<16) // the record's values, bound without copies (SQLITE_STATIC)
	exec(db, "BEGIN")
	n := 0
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			b.Fatal(err)
		}
		off := 0
		for i, v := range rec {
			if off+len(v)+1 > len(buf) {
				b.Fatal("record too long")
			}
			copy(buf[off:], v)
			check(db, sqlite3.Xsqlite3_bind_text(tls, stmt, int32(i+1), uintptr(unsafe.Pointer(&buf[off])), int32(len(v)), 0))
			off += len(v) + 1
		}
		check(db, sqlite3.Xsqlite3_step(tls, stmt))
		check(db, sqlite3.Xsqlite3_reset(tls, stmt))
		n++
	}
	exec(db, "COMMIT")
	runtime.KeepAlive(buf)
	return float64(n) / time.Since(start).Seconds()
}
