package dataset

import (
	"net/http/httptest"
	"strings"
	"testing"

	"zhsj/internal/dataset/validate"
	"zhsj/internal/gm"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

func TestQuarantineCorrectAndReplay(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		ds, _ := Get("enterprise")
		prov := principal(t, db, "analyst", "610000")
		req := httptest.NewRequest("POST", "/", nil)
		res := ingest(t, m, "e.csv", "enterprise", toCSV(entHeader, entRows()))
		rows, _, _ := m.ListQuarantine(ctx, prov, ds, QuarantineFilter{}, pageAll)
		var future, region, dup *QuarantineRow
		for i := range rows {
			switch rows[i].Errors[0].Code {
			case validate.CodeDateFuture:
				future = &rows[i]
			case IssueRegionName:
				region = &rows[i]
			case IssueDuplicateKey:
				dup = &rows[i]
			}
		}
		if future == nil || region == nil || dup == nil {
			t.Fatalf("quarantine rows: %+v", rows)
		}
		if future.Values["establish_date"] != "2099-01-01" || future.ErrorFor("establish_date") == "" {
			t.Errorf("quarantine row shows %+v", future)
		}
		// A correction that is still wrong reports the remaining problem and stays open.
		issues, err := m.Correct(ctx, req, prov, ds, future.ID, map[string]string{"establish_date": "2099-02-30"})
		if err != nil || len(issues) != 1 || issues[0].Code != validate.CodeDateInvalid {
			t.Fatalf("bad correction: %+v %v", issues, err)
		}
		issues, err = m.Correct(ctx, req, prov, ds, future.ID, map[string]string{"establish_date": "2009-01-01"})
		if err != nil || len(issues) != 0 {
			t.Fatalf("correction: %+v %v", issues, err)
		}
		if _, err := m.Correct(ctx, req, prov, ds, region.ID, map[string]string{"region_code": "碑林区", "legal_rep_id_no": ""}); err != nil {
			t.Fatal(err)
		}
		if _, err := m.Correct(ctx, req, prov, ds, future.ID, map[string]string{"nonsense": "1"}); err == nil {
			t.Error("unknown field accepted")
		}
		// Replay of three: two corrected ones load, the duplicate (unchanged) stays with a new reason.
		rep, err := m.Replay(ctx, ds, []int64{future.ID, region.ID, dup.ID}, Options{Principal: prov, Request: req})
		if err != nil {
			t.Fatal(err)
		}
		if rep.Read != 3 || rep.Upserted != 3 || rep.Quarantined != 0 {
			// the duplicate of the first run is a valid record on its own: replaying it updates the row
			t.Fatalf("replay: %+v", rep)
		}
		var name, date string
		db.QueryRow(ctx, `SELECT establish_date FROM ds_enterprise WHERE uscc = ?`, usccHZ).Scan(&date)
		db.QueryRow(ctx, `SELECT name FROM ds_enterprise WHERE uscc = ?`, usccYT).Scan(&name)
		if date != "2009-01-01" || name != "西安雁塔测试科技有限公司（改名）" {
			t.Errorf("replayed rows: %q %q", date, name)
		}
		var reg, idx string
		db.QueryRow(ctx, `SELECT region_code, COALESCE(legal_rep_id_no_idx, '') FROM ds_enterprise WHERE name = '火星公司'`).Scan(&reg, &idx)
		if reg != "610103" || idx != gm.BlindIndex(m.keys, gm.PurposeIDNo, idYT) {
			t.Errorf("corrected region %q, id index %q (an empty input must keep the personal value)", reg, idx)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ds_quarantine WHERE status = 'resolved' AND resolved_run_id = ?`, rep.RunID); n != 3 {
			t.Errorf("resolved rows: %d", n)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ds_quarantine WHERE status = 'open'`); n != 2 {
			t.Errorf("open rows left: %d", n)
		}
		// Replaying a still-invalid row keeps it open with the reason, nothing is lost.
		left, _, _ := m.ListQuarantine(ctx, prov, ds, QuarantineFilter{}, pageAll)
		rep2, err := m.Replay(ctx, ds, nil, Options{Principal: prov, Request: req})
		if err != nil || rep2.Read != 2 || rep2.Quarantined != 2 || rep2.Upserted != 0 {
			t.Fatalf("replay of invalid rows: %+v %v", rep2, err)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ds_quarantine WHERE status = 'open' AND last_run_id = ?`, rep2.RunID); n != 2 {
			t.Errorf("rows not kept open: %d", n)
		}
		// Discard needs a reason and closes the row.
		if _, err := m.Discard(ctx, req, prov, ds, []int64{left[0].ID}, ""); err == nil {
			t.Error("discard without a reason")
		}
		if n, err := m.Discard(ctx, req, prov, ds, []int64{left[0].ID}, "源系统已作废"); err != nil || n != 1 {
			t.Fatalf("discard: %d %v", n, err)
		}
		if _, err := m.Correct(ctx, req, prov, ds, left[0].ID, map[string]string{"name": "x"}); err == nil {
			t.Error("correction of a discarded row")
		}
		for _, a := range []string{"dataset.quarantine.correct", "dataset.quarantine.discard"} {
			if n := count(t, db, `SELECT COUNT(*) FROM audit_log WHERE action = ?`, a); n == 0 {
				t.Errorf("no audit record %s", a)
			}
		}
		_ = res
	})
}

// TestScopedWriter: a Xi'an analyst cannot load or overwrite records of other cities; the
// refused records wait in the quarantine for the province.
func TestScopedWriter(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		ds, _ := Get("enterprise")
		prov := principal(t, db, "prov", "610000")
		xa := principal(t, db, "xa", "610100")
		// The province loads a 宝鸡 record first.
		ingest(t, m, "bj.csv", "enterprise", toCSV(entHeader, entRows()[1:2]))
		xaFile := toCSV(entHeader, [][]string{
			entRows()[0], // 雁塔 (inside 西安)
			{usccBJ, "冒名修改", "1100", "x", "", "1", "2020-01-02", "x", "雁塔区", "存续", ""}, // existing 宝鸡 key moved into 西安
			entRows()[3], // 咸阳 (derived region, outside)
		})
		res := ingest(t, m, "xa.csv", "enterprise", xaFile, Options{Principal: xa})
		if res.Upserted != 1 || res.Quarantined != 2 {
			t.Fatalf("scoped run: %+v", res)
		}
		var name string
		db.QueryRow(ctx, `SELECT name FROM ds_enterprise WHERE uscc = ?`, usccBJ).Scan(&name)
		if name != "宝鸡渭滨测试机械有限公司" {
			t.Fatalf("another city's record overwritten: %q", name)
		}
		rows, total, _ := m.ListQuarantine(ctx, xa, ds, QuarantineFilter{}, pageAll)
		if total != 2 {
			t.Fatalf("xa sees %d quarantine rows", total)
		}
		for _, r := range rows {
			if r.Errors[0].Code != IssueOutOfScope || !strings.Contains(r.Errors[0].Message, "管辖范围") {
				t.Errorf("reason %+v", r.Errors)
			}
			if r.Values["name"] == "" {
				t.Errorf("refused record lost its values: %+v", r.Values)
			}
		}
		// Xi'an cannot replay them; the province can.
		if rep, _ := m.Replay(ctx, ds, nil, Options{Principal: xa}); rep == nil || rep.Upserted != 0 || rep.Quarantined != 2 {
			t.Fatalf("xa replay: %+v", rep)
		}
		rep, err := m.Replay(ctx, ds, nil, Options{Principal: prov})
		if err != nil || rep.Upserted != 2 {
			t.Fatalf("province replay: %+v %v", rep, err)
		}
		// Runs are scoped too: Xi'an sees its own runs only.
		runs, n, _ := m.ListRuns(ctx, xa, RunFilter{}, pageAll)
		for _, r := range runs {
			if r.Actor != "xa" {
				t.Errorf("xa sees run of %s", r.Actor)
			}
		}
		if n != 2 {
			t.Errorf("xa runs: %d", n)
		}
	})
}
