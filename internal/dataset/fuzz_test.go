package dataset

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"zhsj/internal/dataset/validate"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// Fuzz targets of the ingestion parsers. Each reads arbitrary input through the code ingestion
// uses (openSource and the CSV / JSON / NDJSON sources, the column mapping, validateRecord and
// accept, or the whole Ingest) and checks that nothing panics and that every record of the
// input is accounted for: written, found unchanged, or quarantined with a reason. Where the
// number of records can be known without the parser under test (CSV without quotes, NDJSON,
// a valid JSON array) it is checked too. The seed corpus is testdata/bad plus a few inputs
// below; it runs in every `go test`. Fuzz with e.g.
//
//	go test ./internal/dataset -run '^$' -fuzz FuzzReadCSV -fuzztime 30s

// fuzzEnv is set up once per fuzzing process: a module on a fresh SQLite database, the code
// catalog the parsers check against, and the enterprise dataset (the richest one: credit
// codes, sealed ID numbers, amounts with units, dates, regions by name).
type fuzzEnv struct {
	m   *Module
	db  *store.DB
	cat *Catalog
	ds  *Dataset
}

func newFuzzEnv(f *testing.F) *fuzzEnv {
	db := storetest.SQLite(f)
	m := newModule(f, db)
	cat, err := LoadCatalog(ctx, db)
	if err != nil {
		f.Fatal(err)
	}
	ds, _ := Get("enterprise")
	return &fuzzEnv{m: m, db: db, cat: cat, ds: ds}
}

// addSeeds adds every file of testdata/bad, and inputs built like the other tests' files.
func addSeeds(f *testing.F, add func(data []byte)) {
	files, err := filepath.Glob(filepath.Join("testdata", "bad", "*"))
	if err != nil || len(files) == 0 {
		f.Fatalf("no seed files: %v", err)
	}
	for _, p := range files {
		if strings.HasSuffix(p, ".md") {
			continue
		}
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		add(b)
	}
	add([]byte(toCSV(entHeader, entRows())))
	add([]byte(toTSV(entHeader, entRows()[:3])))
	var objs []map[string]string
	var nd bytes.Buffer
	for _, r := range entRows() {
		o := map[string]string{}
		for i, h := range entHeader {
			o[h] = r[i]
		}
		objs = append(objs, o)
		b, _ := json.Marshal(o)
		nd.Write(b)
		nd.WriteString("\n")
	}
	arr, _ := json.Marshal(objs)
	add(arr)
	add(nd.Bytes())
}

// encodingsFuzzed are the encodings a fuzzed input is declared in (chosen by a byte).
var encodingsFuzzed = []string{"", "utf-8", "gb18030", "utf-16"}

// outcome is what reading an input gave: the records read and where each went.
type outcome struct {
	openErr           error // the source could not be opened (the run fails before reading)
	readErr           error // reading stopped with an error (the run fails)
	read              int
	good, bad, unchgd int
}

// readThrough reads data as runSource does — open the source, resolve its columns (again when
// a record is wider), validate each record and accept it in order — and checks each record on
// the way.
func (e *fuzzEnv) readThrough(t *testing.T, data []byte, format, enc string) outcome {
	var out outcome
	src, err := openSource(bytes.NewReader(data), format, "fuzz", enc, "")
	if err != nil {
		var fe *fatal
		if !errors.As(err, &fe) || fe.msg == "" {
			t.Fatalf("openSource: not a message for people: %#v", err)
		}
		out.openErr = err
		return out
	}
	o := defaults(e.ds, Options{Dataset: e.ds.Name})
	rs := &runState{m: e.m, ds: e.ds, o: o, res: &Result{Warnings: map[string]int64{}}, cat: e.cat, upsert: map[int]string{},
		seen: map[uint64]seenKey{}, regSet: map[string]bool{}, perSet: map[string]bool{}, src: src, now: time.Now()}
	if err := e.ds.resolve(src.Columns(), o.Mapping, &rs.cm); err != nil {
		t.Fatalf("resolve without a mapping: %v", err)
	}
	w := &worker{hasher: sha256.New()}
	for {
		rec, err := src.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			out.readErr = err
			break
		}
		out.read++
		if rec == nil {
			t.Fatalf("record %d: nil record without an error", out.read)
		}
		if len(rec.vals) > len(rs.cm.fields) {
			if err := e.ds.resolve(src.Columns(), o.Mapping, &rs.cm); err != nil {
				rec.merr = err.Error()
			}
		}
		if rec.line < 1 {
			t.Errorf("record %d: line %d", out.read, rec.line)
		}
		if rec.perr == "" && src.Fixed() && len(rec.vals) != len(src.Columns()) {
			t.Errorf("record %d (line %d): %d values for %d columns and no error", out.read, rec.line, len(rec.vals), len(src.Columns()))
		}
		if d := src.Describe(); rec.perr == "" && (strings.Contains(d, "GB18030") || strings.Contains(d, "UTF-16")) && !utf8ValidAll(rec.vals) {
			// Decoded input is valid UTF-8; only input read as UTF-8 may be invalid (and is
			// then quarantined as bad_encoding).
			t.Errorf("record %d: invalid UTF-8 after decoding (%s)", out.read, d)
		}
		it := rs.validateRecord(w, &rs.cm, rec)
		if it.bad != nil {
			if len(it.bad.errs) == 0 {
				t.Errorf("record %d (line %d): bad without a reason", out.read, rec.line)
			}
			for _, is := range it.bad.errs {
				if is.Code == "" || is.Message == "" {
					t.Errorf("record %d (line %d): issue without code or message: %+v", out.read, rec.line, is)
				}
			}
		}
		g, b, u := len(rs.good), len(rs.bad), rs.sameDup
		rs.accept(&it, &chunk{cm: rs.cm})
		dg, db, du := len(rs.good)-g, len(rs.bad)-b, int(rs.sameDup-u)
		if dg+db+du != 1 || dg < 0 || db < 0 || du < 0 {
			t.Fatalf("record %d (line %d) went to %d good, %d bad, %d unchanged rows", out.read, rec.line, dg, db, du)
		}
		out.good, out.bad, out.unchgd = out.good+dg, out.bad+db, out.unchgd+du
	}
	return out
}

func utf8ValidAll(vals []string) bool {
	for _, v := range vals {
		if !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

// csvRecords counts the records of a CSV input without a CSV parser, when that is plain: no
// quotes, no carriage returns, no NUL and no UTF-16 — then every non-empty line (after a
// UTF-8 byte-order mark) is a record and the first is the header. ok is false when the input is not plain.
func csvRecords(data []byte, enc string) (n int, ok bool) {
	if enc == "utf-16" || bytes.ContainsAny(data, "\"\r\x00") || bytes.HasPrefix(data, []byte{0xFF, 0xFE}) || bytes.HasPrefix(data, []byte{0xFE, 0xFF}) {
		return 0, false
	}
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF")) // a BOM is not content
	for _, l := range bytes.Split(data, []byte("\n")) {
		if len(l) > 0 {
			n++
		}
	}
	return max(n-1, 0), true
}

// jsonRecords counts the records of valid UTF-8 JSON input without the source under test:
// the elements of a valid JSON array, or the non-blank lines of NDJSON (input whose first
// non-blank character is "{"). ok is false otherwise.
func jsonRecords(data []byte, enc string) (n int, ok bool) {
	if (enc != "" && enc != "utf-8") || !utf8.Valid(data) || bytes.IndexByte(data, 0) >= 0 {
		return 0, false
	}
	data = bytes.TrimPrefix(data, []byte("\xEF\xBB\xBF"))
	t := bytes.TrimLeft(data, " \t\r\n")
	switch {
	case len(t) > 0 && t[0] == '[':
		var arr []json.RawMessage
		if json.Unmarshal(data, &arr) != nil {
			return 0, false
		}
		return len(arr), true
	case len(t) > 0 && t[0] == '{':
		for _, l := range bytes.Split(data, []byte("\n")) {
			if len(bytes.TrimSpace(l)) > 0 {
				n++
			}
		}
		return n, true
	}
	return 0, false
}

// check asserts what every read must satisfy, and the expected number of records when known.
func (o outcome) check(t *testing.T, want int, known bool) {
	t.Helper()
	if o.readErr != nil {
		// Sources report bad records as records; an error while reading fails the whole run.
		t.Errorf("reading failed after %d records: %v", o.read, o.readErr)
	}
	if o.good+o.bad+o.unchgd != o.read {
		t.Errorf("%d records read, %d good + %d bad + %d unchanged", o.read, o.good, o.bad, o.unchgd)
	}
	if known && o.openErr == nil && o.read != want {
		t.Errorf("%d records read, the input has %d", o.read, want)
	}
}

// FuzzReadCSV reads arbitrary bytes as a CSV file in each declarable encoding.
func FuzzReadCSV(f *testing.F) {
	e := newFuzzEnv(f)
	addSeeds(f, func(b []byte) {
		for i := range encodingsFuzzed {
			f.Add(b, uint8(i))
		}
	})
	f.Add([]byte("统一社会信用代码,企业名称\n91610113MA6T00012X,甲\n\n\n,\n"), uint8(0))
	f.Add([]byte("企业名称;住所\n\xb2\xe2\xca\xd4;\x95\x32\x82\x36\n\x81\n"), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, encIdx uint8) {
		enc := encodingsFuzzed[int(encIdx)%len(encodingsFuzzed)]
		o := e.readThrough(t, data, FormatCSV, enc)
		want, known := csvRecords(data, enc)
		o.check(t, want, known)
	})
}

// FuzzReadJSON reads arbitrary bytes as a JSON array or NDJSON.
func FuzzReadJSON(f *testing.F) {
	e := newFuzzEnv(f)
	addSeeds(f, func(b []byte) { f.Add(b, uint8(0)) })
	f.Add([]byte(`[{"企业名称":"甲","统一社会信用代码":"91610113MA6T00012X"},null,{"name":1.5e3}]`), uint8(0))
	f.Add([]byte("{\"name\":\"甲\"}\n\n  \n{\"name\":[1,{\"a\":true}]}\n{bad\n"), uint8(1))
	f.Add([]byte(`[{"a":1}, 5, {"name":"乙"}]`), uint8(0))
	f.Fuzz(func(t *testing.T, data []byte, encIdx uint8) {
		enc := encodingsFuzzed[int(encIdx)%len(encodingsFuzzed)]
		o := e.readThrough(t, data, FormatJSON, enc)
		want, known := jsonRecords(data, enc)
		o.check(t, want, known)
	})
}

// FuzzIngest runs arbitrary bytes through the whole of Ingest on SQLite (format and encoding
// chosen by a byte): the run commits with every record written, unchanged or quarantined, or
// fails before reading any record with a reason for people.
func FuzzIngest(f *testing.F) {
	e := newFuzzEnv(f)
	addSeeds(f, func(b []byte) {
		f.Add(b, uint8(0)) // detected format, detected encoding
		f.Add(b, uint8(4)) // CSV
	})
	f.Fuzz(func(t *testing.T, data []byte, mode uint8) {
		format := []string{"", FormatCSV, FormatJSON}[int(mode/4)%3]
		enc := encodingsFuzzed[int(mode)%len(encodingsFuzzed)]
		res, err := e.m.Ingest(ctx, bytes.NewReader(data), Options{Dataset: "enterprise", SourceName: "fuzz", Format: format, Encoding: enc})
		if res == nil {
			t.Fatalf("no result: %v", err)
		}
		switch res.Status {
		case StatusCommitted:
			if err != nil {
				t.Fatalf("committed with an error: %v", err)
			}
			if res.Upserted+res.Unchanged+res.Quarantined != res.Read {
				t.Errorf("%d read, %d upserted + %d unchanged + %d quarantined", res.Read, res.Upserted, res.Unchanged, res.Quarantined)
			}
			var want int
			known := false
			switch detectFormat(format, "fuzz", data) {
			case FormatCSV:
				want, known = csvRecords(data, enc)
			case FormatJSON, FormatNDJSON:
				want, known = jsonRecords(data, enc)
			}
			if known && res.Read != int64(want) {
				t.Errorf("%d records read, the input has %d", res.Read, want)
			}
		case StatusFailed:
			if err == nil || res.Error == "" {
				t.Fatalf("failed without a reason: %+v %v", res, err)
			}
			if res.Read != 0 {
				t.Errorf("failed after reading %d records: %s", res.Read, res.Error)
			}
		default:
			t.Fatalf("status %q", res.Status)
		}
	})
}

// TestJSONArrayNonObjects: elements of a JSON array that are not objects are each quarantined,
// and the elements after them are still read (they were dropped silently before).
func TestJSONArrayNonObjects(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		u1, u2 := validate.MakeUSCC('9', '1', "610113", "J0000001"), validate.MakeUSCC('9', '1', "610113", "J0000002")
		in := `[{"统一社会信用代码":"` + u1 + `","企业名称":"甲"}, 5, "x", [1], {"统一社会信用代码":"` + u2 + `","企业名称":"乙"}]`
		res := ingest(t, m, "a.json", "enterprise", in)
		if res.Status != StatusCommitted || res.Read != 5 || res.Upserted != 2 || res.Quarantined != 3 {
			t.Fatalf("%+v", res)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ds_enterprise WHERE uscc IN (?, ?)`, u1, u2); n != 2 {
			t.Errorf("%d of 2 objects stored", n)
		}
		// Each bad element is its own quarantine row, with its text to correct.
		var displays, raws []string
		if err := db.Select(ctx, &displays, `SELECT display FROM ds_quarantine`); err != nil {
			t.Fatal(err)
		}
		for _, d := range displays {
			var m map[string]string
			json.Unmarshal([]byte(d), &m)
			raws = append(raws, m[rawKey])
		}
		slices.Sort(raws)
		if len(raws) != 3 || raws[0] != `"x"` || raws[1] != `5` || raws[2] != `[1]` {
			t.Errorf("quarantined %q, want the three elements", raws)
		}
	})
}
