package quality

import (
	"context"
	"fmt"
	"testing"
	"time"

	"zhsj/internal/dataset/validate"
	"zhsj/internal/store"
)

// The fixture: small tables shaped like the market-entity, licence and traceability datasets,
// with crafted defects whose counts every test knows exactly.

var fixtureCatalog = Catalog{
	Datasets: []Dataset{
		{Name: "ent", Title: "测试主体", Table: "qt_ent", Key: []string{"uscc"}, Region: "region_code", Updated: "updated_at",
			Columns: []Column{
				{Name: "uscc", Title: "统一社会信用代码", Type: TypeUSCC},
				{Name: "name", Title: "名称", Type: TypeText},
				{Name: "ent_type", Title: "主体类型", Type: TypeCode, CodeTable: "ent_type"},
				{Name: "capital", Title: "注册资本", Type: TypeDecimal},
				{Name: "employees", Title: "从业人数", Type: TypeInt},
				{Name: "establish_date", Title: "成立日期", Type: TypeDate},
				{Name: "region_code", Title: "行政区划", Type: TypeRegion},
				{Name: "status", Title: "登记状态", Type: TypeEnum, Enum: []string{"存续", "在业", "吊销", "注销", "迁出"}},
				{Name: "legal_id", Title: "法定代表人证件号码（明文）", Type: TypeText},
				{Name: "legal_sealed", Title: "法定代表人证件号码", Type: TypeIDNo, Column: "legal_id_mask", Issue: "legal_id_issue", Sealed: true},
				{Name: "updated_at", Title: "更新时间", Type: TypeDateTime},
			}},
		{Name: "lic", Title: "测试许可证", Table: "qt_lic", Key: []string{"licence_no"}, Region: "region_code",
			Columns: []Column{
				{Name: "licence_no", Title: "证书编号", Type: TypeText},
				{Name: "holder_uscc", Title: "持证企业", Type: TypeUSCC},
				{Name: "issue_date", Title: "发证日期", Type: TypeDate},
				{Name: "expiry_date", Title: "有效期至", Type: TypeDate},
				{Name: "region_code", Title: "行政区划", Type: TypeRegion},
			}},
		{Name: "trace", Title: "测试追溯", Table: "qt_trace", Key: []string{"uscc", "product"}, Region: "region_code",
			Columns: []Column{
				{Name: "uscc", Title: "统一社会信用代码", Type: TypeUSCC},
				{Name: "product", Title: "产品", Type: TypeText},
				{Name: "batch", Title: "批次", Type: TypeText},
				{Name: "region_code", Title: "行政区划", Type: TypeRegion},
				// Data-driven fields, kept in the JSON column extra.
				{Name: "color", Title: "颜色", Type: TypeText, JSON: "extra"},
				{Name: "made", Title: "生产日期", Type: TypeDate, JSON: "extra"},
				{Name: "sold", Title: "销售日期", Type: TypeDate, JSON: "extra"},
				{Name: "qty", Title: "数量", Type: TypeInt, JSON: "extra"},
			}},
	},
	Codes: CodeTables{Table: "qt_codes", Name: "table_name", Code: "code", Enabled: "enabled"},
}

// usccs are the fixture's credit codes E1…E12 (valid except E8).
var usccs = func() []string {
	out := make([]string, 13)
	for i := 1; i <= 12; i++ {
		out[i] = validate.MakeUSCC('9', '1', "610100", fmt.Sprintf("MA%06d", i))
	}
	out[8] = out[8][:17] + string("0123456789ABCDEFGHJKLMNPQRTUWXY"[(indexOf(out[8][17])+1)%31])
	return out
}()

func indexOf(c byte) int {
	for i, x := range []byte("0123456789ABCDEFGHJKLMNPQRTUWXY") {
		if x == c {
			return i
		}
	}
	return -1
}

var (
	goodID = validate.MakeCitizenID("610102", time.Date(1980, 5, 6, 0, 0, 0, 0, time.UTC), 123, true)
	badID  = goodID[:17] + map[bool]string{true: "1", false: "2"}[goodID[17] != '1']
)

func createFixture(t testing.TB, db *store.DB) {
	t.Helper()
	ctx := context.Background()
	ts := "TIMESTAMP"
	boolT := "BOOLEAN"
	if db.Dialect() == store.Postgres {
		ts = "TIMESTAMPTZ"
	}
	for _, q := range []string{
		`CREATE TABLE qt_ent (uscc TEXT PRIMARY KEY, name TEXT, ent_type TEXT, capital TEXT, employees BIGINT,
			establish_date TEXT, region_code TEXT, status TEXT, legal_id TEXT, legal_id_mask TEXT, legal_id_issue TEXT, updated_at ` + ts + `)`,
		`CREATE TABLE qt_lic (licence_no TEXT PRIMARY KEY, holder_uscc TEXT, issue_date TEXT, expiry_date TEXT, region_code TEXT)`,
		`CREATE TABLE qt_trace (uscc TEXT NOT NULL, product TEXT NOT NULL, batch TEXT, region_code TEXT, extra TEXT NOT NULL DEFAULT '{}',
			PRIMARY KEY (uscc, product))`,
		`CREATE TABLE qt_codes (table_name TEXT NOT NULL, code TEXT NOT NULL, enabled ` + boolT + ` NOT NULL, PRIMARY KEY (table_name, code))`,
	} {
		if _, err := db.Exec(ctx, q); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC().Add(-time.Hour).Truncate(time.Millisecond)
	type ent struct {
		name, entType, capital any
		employees              any
		est, region, status    string
		legalID, mask, issue   any
	}
	ents := map[int]ent{
		1:  {"甲公司", "1100", "100", 10, "2010-01-01", "610102", "存续", goodID, "6101**********123X", nil},
		2:  {nil, nil, "50", nil, "2011-01-01", "610102", "存续", nil, nil, nil},
		3:  {"  ", "1100", nil, 5, "2012-01-01", "610103", "在业", nil, nil, nil},
		4:  {"丁公司", "9999", "10", 5, "2013-01-01", "610302", "开业", nil, nil, nil},
		5:  {"一个非常非常非常长的公司名称", "1100", "abc", 5, "2014-01-01", "610302", "存续", nil, nil, nil},
		6:  {"己公司", "1200", "-5", 5, "1990-05-05", "610303", "注销", nil, nil, nil},
		7:  {"庚公司", "1100", "10", 100000, "2015-01-01", "610102", "存续", nil, nil, nil},
		8:  {"辛公司", "1100", "10", 5, "2016-01-01", "610102", "存续", nil, nil, nil},
		9:  {"壬公司", "1100", "10", 5, "2999-01-01", "610102", "存续", nil, nil, nil},
		10: {"癸公司", "1100", "10", 5, "2017-01-01", "619999", "存续", nil, nil, nil},
		11: {"子公司", "1100", "10", 5, "2018-01-01", "610302", "存续", badID, "6101**********1231", "id_check"},
		12: {"甲公司", "1100", "10", 5, "2019-01-01", "610104", "存续", nil, nil, nil},
	}
	for i := 1; i <= 12; i++ {
		e := ents[i]
		if _, err := db.Exec(ctx, `INSERT INTO qt_ent VALUES (?,?,?,?,?,?,?,?,?,?,?,?)`, usccs[i], e.name, e.entType, e.capital,
			e.employees, e.est, e.region, e.status, e.legalID, e.mask, e.issue, now.Add(-time.Duration(i)*time.Minute)); err != nil {
			t.Fatal(err)
		}
	}
	lics := [][]any{
		{"L1", usccs[1], "2012-01-01", "2017-01-01", "610102"},
		{"L2", "NOPE", "2012-01-01", "2017-01-01", "610102"},
		{"L3", usccs[1], "2005-01-01", "2010-06-01", "610102"},
		{"L4", usccs[4], "2014-01-01", "2019-01-01", "610102"},
		{"L5", usccs[1], "2015-01-01", "2014-01-01", "610102"},
		{"L6", nil, "2015-01-01", "2020-01-01", "610302"},
	}
	for _, l := range lics {
		if _, err := db.Exec(ctx, `INSERT INTO qt_lic VALUES (?,?,?,?,?)`, l...); err != nil {
			t.Fatal(err)
		}
	}
	for _, tr := range [][]any{
		{"A", "p1", "x", "610102", `{"color":"红","made":"2020-01-01","qty":5,"sold":"2019-12-01"}`},
		{"A", "p2", "x", "610102", `{"color":"","made":"2999-01-01","qty":-1}`},
		{"B", "p1", "y", "610302", `{}`},
		{"C", "p1", "x", "610302", `{"color":"蓝色的非常长","made":"2020-01-01","qty":500,"sold":"2021-06-01"}`},
	} {
		if _, err := db.Exec(ctx, `INSERT INTO qt_trace VALUES (?,?,?,?,?)`, tr...); err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range []string{"1100", "1200", "1300"} {
		if _, err := db.Exec(ctx, `INSERT INTO qt_codes VALUES ('ent_type', ?, ?)`, c, c != "1300"); err != nil {
			t.Fatal(err)
		}
	}
}

func newFixtureModule(t testing.TB, db *store.DB) *Module {
	t.Helper()
	createFixture(t, db)
	m, err := New(db, fixtureCatalog, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Init(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	return m
}

// createRules stores rules on the fixture module (as "tester").
func createRules(t testing.TB, m *Module, rules ...*Rule) {
	t.Helper()
	for _, r := range rules {
		if err := m.CreateRule(context.Background(), r, "tester", nil); err != nil {
			t.Fatalf("create %s: %v", r.Code, err)
		}
	}
}

func f64(v float64) *float64 { return &v }
func iptr(v int) *int        { return &v }
