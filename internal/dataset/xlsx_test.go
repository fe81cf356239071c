package dataset

import (
	"archive/zip"
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// breakCellRefs rewrites the first sheet of an XLSX so that the given cell references (such
// as "K3") are not valid cell names any more: excelize then cannot read those rows.
func breakCellRefs(t *testing.T, file []byte, refs ...string) []byte {
	t.Helper()
	zr, err := zip.NewReader(bytes.NewReader(file), int64(len(file)))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	zw := zip.NewWriter(&out)
	for _, f := range zr.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r)
		r.Close()
		if f.Name == "xl/worksheets/sheet1.xml" {
			s := string(b)
			for _, ref := range refs {
				if !strings.Contains(s, `r="`+ref+`"`) {
					t.Fatalf("cell %s not in the sheet", ref)
				}
				s = strings.Replace(s, `r="`+ref+`"`, `r="?`+ref+`"`, 1)
			}
			b = []byte(s)
		}
		w, err := zw.Create(f.Name)
		if err != nil {
			t.Fatal(err)
		}
		w.Write(b)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// TestXLSXUnreadableRows: a row excelize cannot read is quarantined under its own sheet and
// row number, the rows around it load with their own values, and a rerun of the same file
// adds nothing.
func TestXLSXUnreadableRows(t *testing.T) {
	t.Parallel()
	rows := entRows()[:6]
	x := excelize.NewFile()
	for r, row := range append([][]string{entHeader}, rows...) {
		for i, v := range row {
			cell, _ := excelize.CoordinatesToCellName(i+1, r+1)
			x.SetCellValue("Sheet1", cell, v)
		}
	}
	var xb bytes.Buffer
	if err := x.Write(&xb); err != nil {
		t.Fatal(err)
	}
	// Sheet rows 3 and 5 hold records 2 and 4: one loses its last cell's reference, the
	// other a cell in the middle of the row.
	file := breakCellRefs(t, xb.Bytes(), "K3", "E5")

	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		res := ingest(t, m, "企业.xlsx", "enterprise", string(file))
		if res.Read != 6 || res.Quarantined != 2 || res.Upserted+res.Unchanged != 4 {
			t.Fatalf("result: %+v", res)
		}
		var raws []string
		if err := db.Select(ctx, &raws, `SELECT errors FROM ds_quarantine WHERE dataset = 'enterprise' AND status = 'open' ORDER BY line_no`); err != nil {
			t.Fatal(err)
		}
		if len(raws) != 2 || !strings.Contains(raws[0], "第 3 行无法读取") || !strings.Contains(raws[1], "第 5 行无法读取") {
			t.Fatalf("quarantine errors: %q", raws)
		}
		// The readable rows are stored with exactly their own values: nothing of a broken
		// row leaks into the next one.
		want := map[string]string{}
		for i, r := range rows {
			if i != 1 && i != 3 {
				want[r[0]] = r[1] + "|" + r[7]
			}
		}
		var got []struct{ USCC, Name, Address string }
		if err := db.Select(ctx, &got, `SELECT uscc, name, address FROM ds_enterprise`); err != nil {
			t.Fatal(err)
		}
		if len(got) != len(want) {
			t.Fatalf("stored %d rows, want %d: %+v", len(got), len(want), got)
		}
		for _, g := range got {
			if want[g.USCC] != g.Name+"|"+g.Address {
				t.Errorf("row %s stored as %s|%s, want %s", g.USCC, g.Name, g.Address, want[g.USCC])
			}
		}
		again := ingest(t, m, "企业.xlsx", "enterprise", string(file))
		if again.Quarantined != 2 || again.Upserted != 0 {
			t.Fatalf("rerun: %+v", again)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ds_quarantine WHERE status = 'open'`); n != 2 {
			t.Errorf("quarantine rows after the rerun: %d", n)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ds_quarantine WHERE times_seen = 2`); n != 2 {
			t.Errorf("rerun not counted on the quarantine rows: %d", n)
		}
	})
}
