package dataset

import (
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"zhsj/internal/dataset/validate"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
)

// TestSchemaMatchesRegistry: every dataset table has exactly the registry's columns, on both
// databases, so descriptors other modules read are true.
func TestSchemaMatchesRegistry(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		for _, ds := range All() {
			rows, err := db.Query(ctx, "SELECT * FROM "+ds.Table+" WHERE 1 = 0")
			if err != nil {
				t.Fatalf("%s: %v", ds.Table, err)
			}
			have, _ := rows.Columns()
			rows.Close()
			want := ds.Columns()
			sort.Strings(have)
			sort.Strings(want)
			if strings.Join(have, ",") != strings.Join(want, ",") {
				t.Errorf("%s columns\n have %v\n want %v", ds.Table, have, want)
			}
		}
	})
}

func TestRegistry(t *testing.T) {
	t.Parallel()
	want := []string{"enterprise", "licence", "sampling", "supervision", "trace", "ebike", "resource", "apicall", "complaint", "special_equipment", "food_licence", "opinion"}
	if !slices.Equal(Names(), want) {
		t.Fatalf("names %v", Names())
	}
	ent, _ := Get("enterprise")
	// The usual Chinese column titles of real exports, and English names.
	for col, field := range map[string]string{
		"统一社会信用代码": "uscc", "企业名称": "name", "主体名称": "name", "主体类型": "ent_type", "法定代表人": "legal_rep",
		"注册资本": "reg_capital", "注册资本(万元)": "reg_capital", "注册资本（万元）": "reg_capital", "成立日期": "establish_date", "住所": "address",
		"行政区划代码": "region_code", "所属区域": "region_code", "登记状态": "status", "登记机关": "reg_authority",
		"uscc": "uscc", "establishDate": "establish_date", "REG_CAPITAL": "reg_capital", " 企业 名称 ": "name",
	} {
		if f, _ := ent.MatchColumn(col); f != field {
			t.Errorf("column %q maps to %q, want %q", col, f, field)
		}
	}
	if _, u := ent.MatchColumn("注册资本（元）"); u != "元" {
		t.Errorf("unit from title: %q", u)
	}
	if f, _ := ent.MatchColumn("备注"); f != "" {
		t.Errorf("unknown column mapped to %q", f)
	}
	for _, ds := range All() {
		if ds.RegionColumn != ColRegion || len(ds.Key) == 0 || ds.PeriodField == "" {
			t.Errorf("%s descriptor incomplete: %+v", ds.Name, ds)
		}
	}
	eb, _ := Get("ebike")
	if f, ok := eb.Field("plate_no"); !ok || !f.Extra || eb.ExtraColumn != ColExtra {
		t.Errorf("ebike data-driven fields not loaded: %+v", f)
	}
}

// TestEveryDataset loads one valid record per dataset by English field names (JSON) and
// checks derived values, composite keys and data-driven fields.
func TestEveryDataset(t *testing.T) {
	t.Parallel()
	producer := validate.MakeUSCC('9', '1', "610113", "MA6T0101")
	today := time.Now().In(validate.CST).Format(time.DateOnly)
	records := map[string]map[string]any{
		"enterprise": {"uscc": producer, "name": "测试企业", "ent_type": "有限责任公司", "region_code": "610113", "establish_date": "2015-05-05", "is_industrial": "是", "quality_manager_count": 3, "industry_code": "C3311"},
		"licence": {"licence_no": "（陕）XK06-001-00012", "holder_uscc": producer, "holder_name": "测试企业", "product_category": "电线电缆",
			"issue_date": "2021-01-01", "expiry_date": "2026-01-01", "status": "有效"},
		"sampling": {"batch_no": "SX2024-0001", "plan_level": "省级", "product_name": "陶瓷砖", "producer_uscc": producer, "sampling_date": "2024-04-01",
			"result": "不合格", "failed_items": "吸水率", "followup_status": "责令整改", "stage": "生产领域"},
		"supervision": {"record_no": "JC-0001", "plan_name": "2024 年电动自行车专项", "inspect_type": "专项", "target_uscc": producer, "target_name": "测试企业",
			"inspect_date": "2024-05-01", "result": "发现问题", "case_filed": "否"},
		"trace":    {"uscc": producer, "enterprise_name": "测试企业", "product_name": "儿童服装", "on_platform": true, "codes_issued": 1200, "codes_scanned": 37, "report_date": "2024-06-30"},
		"ebike":    {"frame_no": "ABC123456789", "brand": "秦风", "model": "TDT-01", "registration_date": "2024-03-03", "region_code": "雁塔区", "plate_no": "陕A12345", "color": "红", "owner_phone": "13800001234"},
		"resource": {"resource_code": "R-001", "name": "市场主体登记信息", "owner_system": "登记注册系统", "resource_type": "库表", "record_count": 1000000, "update_cycle": "每日"},
		"apicall":  {"call_id": "C-0001", "system": "交换平台", "interface_name": "企业信息查询", "called_at": today + "T23:30:00+08:00", "success": "成功", "latency_ms": 120},
		// The topic libraries' datasets load like the registers, Chinese titles included.
		"complaint": {"登记编号": "TS2024-000001", "类型": "投诉", "涉及领域": "食品", "被投诉主体统一社会信用代码": producer, "被投诉主体": "测试企业",
			"来源渠道": "12315热线", "登记日期": "2024-03-15", "办理状态": "已办结", "办结日期": "2024-03-20", "挽回经济损失（元）": 800, "行政区划代码": "雁塔区"},
		"special_equipment": {"equipment_code": "3110610113201800001", "equipment_type": "电梯", "user_uscc": producer, "user_name": "测试企业",
			"register_date": "2018-06-01", "next_inspection_date": "2025-06-01", "status": "在用", "region_code": "610113"},
		"food_licence": {"licence_no": "JY16101130000001", "holder_uscc": producer, "holder_name": "测试餐饮", "business_type": "餐饮服务经营者",
			"issue_date": "2022-01-10", "expiry_date": "2027-01-09", "status": "有效", "region_code": "610113"},
		"opinion": {"item_id": "YQ-0001", "title": "某小区电梯频繁故障引关注", "media": "微博", "domain": "特种设备", "sentiment": "负面", "heat": 320,
			"published_date": "2024-08-08", "region_code": "610113"},
	}
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		for _, ds := range All() {
			b, _ := json.Marshal([]any{records[ds.Name]})
			res := ingest(t, m, ds.Name+".json", ds.Name, string(b))
			if res.Upserted != 1 || res.Quarantined != 0 {
				var issues string
				db.Get(ctx, &issues, `SELECT errors FROM ds_quarantine WHERE dataset = ? ORDER BY id DESC LIMIT 1`, ds.Name)
				t.Errorf("%s: %+v %s", ds.Name, res, issues)
			}
		}
		var s struct {
			Category string `db:"category_code"`
			Region   string `db:"region_code"`
			Level    string `db:"plan_level"`
			Stage    string `db:"stage"`
		}
		if err := db.Get(ctx, &s, `SELECT category_code, region_code, plan_level, stage FROM ds_sampling`); err != nil || s.Category != "07" || s.Region != "610113" || s.Level != "省" || s.Stage != "生产" {
			t.Errorf("sampling derived values: %+v %v", s, err)
		}
		var lic struct {
			No  string `db:"licence_no"`
			Cat string `db:"product_category"`
		}
		if err := db.Get(ctx, &lic, `SELECT licence_no, product_category FROM ds_licence`); err != nil || lic.No != "(陕)XK06-001-00012" || lic.Cat != "06" {
			t.Errorf("licence: %+v %v", lic, err)
		}
		var call struct {
			Date string `db:"call_date"`
			OK   bool   `db:"success"`
		}
		if err := db.Get(ctx, &call, `SELECT call_date, success FROM ds_apicall`); err != nil || call.Date != today || !call.OK {
			t.Errorf("apicall: %+v %v", call, err)
		}
		var extra, phone string
		if err := db.QueryRow(ctx, `SELECT extra, owner_phone_mask FROM ds_ebike`).Scan(&extra, &phone); err != nil ||
			extra != `{"color":"红","plate_no":"陕A12345"}` || phone != "138****1234" {
			t.Errorf("ebike extra %q phone %q", extra, phone)
		}
		var industry string
		db.Get(ctx, &industry, `SELECT industry_code FROM ds_enterprise`)
		if industry != "3311" {
			t.Errorf("industry code %q", industry)
		}
		// Composite key: another product of the same enterprise is a new row, the same one is not.
		tr := records["trace"]
		tr2 := map[string]any{}
		for k, v := range tr {
			tr2[k] = v
		}
		tr2["product_name"] = "床上用品"
		b, _ := json.Marshal([]any{tr, tr2})
		if res := ingest(t, m, "trace2.json", "trace", string(b)); res.Upserted != 1 || res.Unchanged != 1 {
			t.Errorf("trace composite key: %+v", res)
		}
		// Resource and API calls default to the province when the source has no region.
		var reg string
		db.Get(ctx, &reg, `SELECT region_code FROM ds_resource`)
		if reg != "610000" {
			t.Errorf("resource region %q", reg)
		}
	})
}

func TestParseValues(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		in, colUnit, want string
		ok                bool
	}{
		{"500", "", "500", true}, {"500万元", "", "500", true}, {"5,000,000元", "", "500", true}, {"1.5亿元", "", "15000", true},
		{"0500.50", "", "500.5", true}, {"123", "元", "0.0123", true}, {"-3", "", "-3", true}, {"abc", "", "", false}, {"1.2.3", "", "", false}, {".", "", "", false},
	} {
		got, _, ok := parseMoney(c.in, c.colUnit, "万元")
		if got != c.want || ok != c.ok {
			t.Errorf("parseMoney(%q, %q) = %q %v, want %q %v", c.in, c.colUnit, got, ok, c.want, c.ok)
		}
	}
	if _, cur, _ := parseMoney("100万元人民币", "", "万元"); cur != "人民币" {
		t.Errorf("currency %q", cur)
	}
	for in, want := range map[string]string{"610113199001011234": "610113********1234", "13800001234": "138****1234", "ab": "**"} {
		typ := TypeIDNo
		if len(in) == 11 {
			typ = TypeMobile
		}
		if got := mask(typ, in); got != want {
			t.Errorf("mask(%q) = %q", in, got)
		}
	}
}
