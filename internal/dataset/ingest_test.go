package dataset

import (
	"bytes"
	"encoding/csv"
	"encoding/json"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/xuri/excelize/v2"
	"golang.org/x/text/encoding/simplifiedchinese"

	"zhsj/internal/dataset/validate"
	"zhsj/internal/gm"
	"zhsj/internal/store"
	"zhsj/internal/store/storetest"
	"zhsj/internal/web"
)

var entHeader = []string{"统一社会信用代码", "企业名称", "主体类型", "法定代表人", "法定代表人身份证号", "注册资本（万元）", "成立日期", "住所", "所属区域", "登记状态", "登记机关"}

var (
	usccYT  = validate.MakeUSCC('9', '1', "610113", "MA6T0001")
	usccBJ  = validate.MakeUSCC('9', '1', "610302", "MA6B0002")
	usccXY  = validate.MakeUSCC('9', '1', "610402", "MA6X0003")
	usccHZ  = validate.MakeUSCC('9', '2', "610702", "L0000004")
	usccCZ  = validate.MakeUSCC('9', '3', "610113", "MA6T0005")
	idYT    = validate.MakeCitizenID("610113", time.Date(1980, 5, 6, 0, 0, 0, 0, time.UTC), 12, true)
	idWrong = validate.MakeCitizenID("610102", time.Date(1975, 1, 2, 0, 0, 0, 0, time.UTC), 3, true)[:17] + "0"
)

func badCheck(code string) string {
	c := code[17]
	if c == '0' {
		return code[:17] + "1"
	}
	return code[:17] + "0"
}

func fullWidth(s string) string {
	var b strings.Builder
	for _, r := range s {
		if r >= '!' && r <= '~' {
			r += 0xFEE0
		}
		b.WriteRune(r)
	}
	return b.String()
}

// entRows are the enterprise test records: 5 good, 1 exact duplicate, 5 bad.
func entRows() [][]string {
	if idWrong == validate.MakeCitizenID("610102", time.Date(1975, 1, 2, 0, 0, 0, 0, time.UTC), 3, true) {
		panic("idWrong is valid")
	}
	return [][]string{
		{usccYT, "西安雁塔测试科技有限公司", "有限责任公司(自然人投资或控股)", "张三", idYT, "500", "2019/3/5", "陕西省西安市\n雁塔路1号", "雁塔区", "在营", "西安市雁塔区市场监督管理局"},
		{fullWidth(usccBJ), "宝鸡渭滨测试机械有限公司", "1100", "李四", "", "1,200.50万元", "2020年1月2日", "宝鸡市渭滨区经二路2号", "宝鸡市渭滨区", "注销", "宝鸡市渭滨区市场监督管理局"},
		{"610402100012345", "咸阳秦都老字号商店", "个人独资企业", "王五", "", "30", "2001-07-08", "咸阳市秦都区人民路3号", "610402", "吊销", "咸阳市工商行政管理局"},
		{usccXY, "咸阳秦都推断区划有限公司", "1130", "赵六", "", "10", "20150610", "咸阳市秦都区", "", "存续", ""},
		{usccCZ, "雁塔区测试农民专业合作社", "9100", "孙七", idWrong, "5", "2018-09-09", "雁塔区", "610113", "存续", ""},
		{usccYT, "西安雁塔测试科技有限公司", "有限责任公司(自然人投资或控股)", "张三", idYT, "500", "2019/3/5", "陕西省西安市\n雁塔路1号", "雁塔区", "在营", "西安市雁塔区市场监督管理局"},
		{badCheck(usccHZ), "汉中校验码错误商行", "9500", "周八", "", "1", "2010-01-01", "汉台区", "610702", "存续", ""},
		{usccHZ, "汉中未来成立商行", "9500", "吴九", "", "1", "2099-01-01", "汉台区", "610702", "存续", ""},
		{validate.MakeUSCC('9', '1', "610102", "MA6N0006"), "状态不明公司", "1100", "郑十", "", "1", "2011-02-03", "新城区", "610102", "停业", ""},
		{validate.MakeUSCC('9', '1', "610103", "MA6N0007"), "火星公司", "1100", "钱一", idYT, "1", "2011-02-03", "火星", "火星", "存续", ""},
		{usccYT, "西安雁塔测试科技有限公司（改名）", "1130", "张三", idYT, "500", "2019-03-05", "雁塔路1号", "雁塔区", "存续", ""},
	}
}

func toCSV(header []string, rows [][]string) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Write(header)
	w.WriteAll(rows)
	return b.String()
}

func toTSV(header []string, rows [][]string) string {
	var b bytes.Buffer
	w := csv.NewWriter(&b)
	w.Comma = '\t'
	w.Write(header)
	w.WriteAll(rows)
	return b.String()
}

func TestIngestEnterpriseCSV(t *testing.T) {
	t.Parallel()
	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		ds, _ := Get("enterprise")
		content := toCSV(entHeader, entRows())
		res := ingest(t, m, "enterprise.csv", "enterprise", content)
		if res.Status != StatusCommitted || res.Read != 11 || res.Upserted != 5 || res.Unchanged != 1 || res.Quarantined != 5 {
			t.Fatalf("first run: %+v", res)
		}
		var got []struct {
			USCC    string  `db:"uscc"`
			Name    string  `db:"name"`
			Type    *string `db:"ent_type"`
			Capital *string `db:"reg_capital"`
			Date    *string `db:"establish_date"`
			Region  string  `db:"region_code"`
			Status  *string `db:"status"`
			Address *string `db:"address"`
			Mask    *string `db:"legal_rep_id_no_mask"`
			Idx     *string `db:"legal_rep_id_no_idx"`
			Enc     []byte  `db:"legal_rep_id_no_enc"`
			Issue   *string `db:"legal_rep_id_no_issue"`
		}
		if err := db.Select(ctx, &got, `SELECT uscc, name, ent_type, reg_capital, establish_date, region_code, status, address,
			legal_rep_id_no_mask, legal_rep_id_no_idx, legal_rep_id_no_enc, legal_rep_id_no_issue FROM ds_enterprise ORDER BY uscc`); err != nil {
			t.Fatal(err)
		}
		by := map[string]int{}
		for i, g := range got {
			by[g.USCC] = i
		}
		if len(got) != 5 {
			t.Fatalf("rows: %d", len(got))
		}
		yt := got[by[usccYT]]
		if *yt.Type != "1130" || *yt.Capital != "500" || *yt.Date != "2019-03-05" || yt.Region != "610113" || *yt.Status != "存续" || *yt.Address != "陕西省西安市\n雁塔路1号" {
			t.Errorf("雁塔 row: %+v", yt)
		}
		if *yt.Mask != idYT[:6]+"********"+idYT[14:] || *yt.Idx != gm.BlindIndex(m.keys, gm.PurposeIDNo, idYT) || yt.Issue != nil {
			t.Errorf("sealed id: mask %q issue %v", *yt.Mask, yt.Issue)
		}
		if plain, err := m.keys.Open(gm.PurposeIDNo, yt.Enc); err != nil || string(plain) != idYT {
			t.Errorf("sealed id opens to %q, %v", plain, err)
		}
		bj, ok := by[usccBJ]
		if !ok {
			t.Fatalf("full-width credit code not normalised: %v", by)
		}
		if g := got[bj]; *g.Capital != "1200.5" || *g.Date != "2020-01-02" || g.Region != "610302" || *g.Status != "注销" || *g.Type != "1100" {
			t.Errorf("宝鸡 row: %+v", g)
		}
		if g := got[by["610402100012345"]]; g.Region != "610402" || *g.Type != "4540" {
			t.Errorf("legacy registration number row: %+v", g)
		}
		if g := got[by[usccXY]]; g.Region != "610402" {
			t.Errorf("region not derived from the credit code: %+v", g)
		}
		if g := got[by[usccCZ]]; g.Issue == nil || *g.Issue != validate.CodeIDCheck {
			t.Errorf("invalid ID number not flagged: %+v", g)
		}
		if res.Warnings["法定代表人证件号码："+issueLabel(validate.CodeIDCheck)] != 1 || res.Warnings["文件内重复记录（内容相同）"] != 1 {
			t.Errorf("warnings: %v", res.Warnings)
		}

		// Quarantine: one row per bad record, reasons per field in Chinese.
		rows, total, err := m.ListQuarantine(ctx, principal(t, db, "p", "610000"), ds, QuarantineFilter{}, pageAll)
		if err != nil || total != 5 {
			t.Fatalf("quarantine: %d %v", total, err)
		}
		codes := map[string]string{}
		for _, r := range rows {
			for _, e := range r.Errors {
				codes[e.Code] = e.Message
			}
			if r.Line == 0 || r.RunID != res.RunID {
				t.Errorf("quarantine row lacks line or run: %+v", r)
			}
		}
		for _, c := range []string{validate.CodeUSCCCheckChar, validate.CodeDateFuture, IssueBadEnum, IssueRegionName, IssueDuplicateKey} {
			if codes[c] == "" {
				t.Errorf("no quarantine reason %s: %v", c, codes)
			}
		}
		if !strings.Contains(codes[IssueBadEnum], "停业") || !strings.Contains(codes[IssueDuplicateKey], "第 2 行") {
			t.Errorf("reasons: %v", codes)
		}

		// The commit event names the affected regions and months.
		var ev CommittedEvent
		lastEvent(t, db, EventCommitted, &ev)
		if ev.RunID != res.RunID || ev.Upserted != 5 || strings.Join(ev.Regions, ",") != "610113,610302,610402" ||
			!strings.Contains(strings.Join(ev.Periods, ","), "2019-03") {
			t.Errorf("event: %+v", ev)
		}
		run, err := m.GetRun(ctx, principal(t, db, "p", "610000"), res.RunID)
		if err != nil || run.Status != StatusCommitted || run.Read != 11 || run.Upserted != 5 || run.Quarantined != 5 || run.ScheduleType != ScheduleManual {
			t.Fatalf("run record: %+v %v", run, err)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM audit_log WHERE action = 'dataset.ingest.run' AND object_id = ?`, itoa(res.RunID)); n != 1 {
			t.Errorf("audit records of the run: %d", n)
		}

		// The same file again: nothing new, nothing duplicated.
		before := tableRows(t, db, ds, "name", "last_updated_at")
		again := ingest(t, m, "enterprise.csv", "enterprise", content)
		if again.Upserted != 0 || again.Unchanged != 6 || again.Quarantined != 5 {
			t.Fatalf("second run: %+v", again)
		}
		if after := tableRows(t, db, ds, "name", "last_updated_at"); strings.Join(after, "\n") != strings.Join(before, "\n") {
			t.Errorf("table changed by an identical file:\n%v\n%v", before, after)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ds_quarantine WHERE status = 'open'`); n != 5 {
			t.Errorf("quarantine rows after the rerun: %d", n)
		}
		if n := count(t, db, `SELECT COUNT(*) FROM ds_quarantine WHERE times_seen = 2 AND last_run_id = ?`, again.RunID); n != 5 {
			t.Errorf("rerun not recorded on the quarantine rows: %d", n)
		}
		// One change is one upsert.
		changed := strings.Replace(content, "宝鸡市渭滨区经二路2号", "宝鸡市渭滨区经二路22号", 1)
		if r := ingest(t, m, "enterprise.csv", "enterprise", changed); r.Upserted != 1 || r.Unchanged != 5 {
			t.Fatalf("changed run: %+v", r)
		}
	})
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// TestIngestFormats loads the same records from every file kind; after the first, each
// other format finds nothing to change, so they all normalise to identical rows.
func TestIngestFormats(t *testing.T) {
	t.Parallel()
	rows := entRows()[:6]
	csvText := toCSV(entHeader, rows)
	gbk, err := simplifiedchinese.GBK.NewEncoder().String(csvText)
	if err != nil {
		t.Fatal(err)
	}
	var objs []map[string]string
	for _, r := range rows {
		o := map[string]string{}
		for i, h := range entHeader {
			o[h] = r[i]
		}
		objs = append(objs, o)
	}
	arr, _ := json.Marshal(objs)
	var nd bytes.Buffer
	for _, o := range objs {
		b, _ := json.Marshal(o)
		nd.Write(b)
		nd.WriteString("\n")
	}
	x := excelize.NewFile()
	for i, h := range entHeader {
		cell, _ := excelize.CoordinatesToCellName(i+1, 1)
		x.SetCellValue("Sheet1", cell, h)
	}
	for r, row := range rows {
		for i, v := range row {
			cell, _ := excelize.CoordinatesToCellName(i+1, r+2)
			switch {
			case i == 6 && r == 0: // a real Excel date cell
				x.SetCellValue("Sheet1", cell, time.Date(2019, 3, 5, 0, 0, 0, 0, time.UTC))
				style, _ := x.NewStyle(&excelize.Style{NumFmt: 14})
				x.SetCellStyle("Sheet1", cell, cell, style)
			case i == 5 && r == 0: // a number cell
				x.SetCellValue("Sheet1", cell, 500)
			default:
				x.SetCellValue("Sheet1", cell, v)
			}
		}
	}
	var xb bytes.Buffer
	x.Write(&xb)

	storetest.Each(t, func(t *testing.T, db *store.DB) {
		m := newModule(t, db)
		first := ingest(t, m, "a.csv", "enterprise", csvText)
		if first.Upserted != 5 || first.Unchanged != 1 {
			t.Fatalf("csv: %+v", first)
		}
		if !strings.Contains(first.Source, "UTF-8") {
			t.Errorf("source description %q", first.Source)
		}
		for _, c := range []struct {
			name, content, enc, wantSource string
		}{
			{"bom.csv", "\xEF\xBB\xBF" + csvText, "", "BOM"},
			{"gbk-auto.csv", gbk, "", "GBK/GB18030（自动识别）"},
			{"gbk-declared.csv", gbk, "gbk", "GBK/GB18030"},
			{"a.xlsx", xb.String(), "", "Excel"},
			{"a.json", string(arr), "", "JSON 数组"},
			{"a.ndjson", nd.String(), "", "NDJSON"},
			{"noext", nd.String(), "", "NDJSON"},
			{"tab.txt", toTSV(entHeader, rows[1:2]), "", "CSV"},
		} {
			res, err := m.Ingest(ctx, strings.NewReader(c.content), Options{Dataset: "enterprise", SourceName: c.name, Encoding: c.enc})
			if err != nil {
				t.Errorf("%s: %v", c.name, err)
				continue
			}
			if res.Upserted != 0 || res.Quarantined != 0 || res.Read == 0 {
				t.Errorf("%s: not identical to the CSV rows: %+v", c.name, res)
			}
			if !strings.Contains(res.Source, c.wantSource) {
				t.Errorf("%s: source %q, want %q", c.name, res.Source, c.wantSource)
			}
		}
		// GBK declared as UTF-8 is refused with a clear message, and nothing is written.
		res, err := m.Ingest(ctx, strings.NewReader(gbk), Options{Dataset: "enterprise", SourceName: "wrong.csv", Encoding: "utf-8"})
		if err == nil || res.Status != StatusFailed || !strings.Contains(res.Error, "GBK") {
			t.Fatalf("GBK as UTF-8: %+v %v", res, err)
		}
	})
}

var pageAll = web.Page{Page: 1, Size: 500}
