package dataset

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"zhsj/internal/dataset/validate"
	"zhsj/internal/demo"
	"zhsj/internal/iam"
	"zhsj/internal/store"
)

// Demo data: realistic Shaanxi records for every dataset, deterministic (record i of a
// dataset is the same at every scale and on every run), written through the ingestion
// pipeline in streaming batches, with a known fraction of deliberate defects recorded in
// ds_demo_defects so that quality results can be checked against them. Defects are of the
// kinds ingestion accepts and leaves to quality rules (invalid check digits outside keys,
// dangling references, inconsistent dates and regions, values missing from code tables,
// empty optional values).

// SeedSizes are the record counts per dataset at each scale.
var SeedSizes = map[demo.Scale]map[string]int{
	demo.Small:  {"enterprise": 3000, "licence": 300, "sampling": 2000, "supervision": 800, "trace": 400, "ebike": 1500, "resource": 60, "apicall": 20000},
	demo.Medium: {"enterprise": 100_000, "licence": 10_000, "sampling": 50_000, "supervision": 20_000, "trace": 5_000, "ebike": 50_000, "resource": 200, "apicall": 1_000_000},
	demo.Large:  {"enterprise": 1_000_000, "licence": 50_000, "sampling": 500_000, "supervision": 100_000, "trace": 20_000, "ebike": 200_000, "resource": 500, "apicall": 10_000_000},
}

// defectRate is the share of records given each kind of deliberate defect.
const defectRate = 0.015

// seedEpoch anchors generated dates so that data is identical on every run.
var seedEpoch = time.Date(2026, 6, 30, 0, 0, 0, 0, validate.CST)

// Seeder returns the module's demo seeder.
func (m *Module) Seeder() demo.Seeder {
	return demo.Seeder{Name: "dataset", Title: "业务数据集", Run: func(ctx context.Context, env *demo.Env) ([]string, error) {
		return m.SeedDemo(ctx, env.Scale, env.Progress)
	}}
}

// SeedDemo fills every dataset at the scale (idempotent: a dataset already seeded at this
// scale is skipped) and returns a summary line per dataset. progress (may be nil) is told
// when each dataset starts and how long it took.
func (m *Module) SeedDemo(ctx context.Context, scale demo.Scale, progress demo.Progress) ([]string, error) {
	sizes, ok := SeedSizes[scale]
	if !ok {
		return nil, fmt.Errorf("未知的数据规模 %q", scale)
	}
	g, err := newGenerator(sizes)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, d := range All() {
		if sizes[d.Name] == 0 {
			continue // no generator here: the topic datasets are filled by the indicator module's demo
		}
		task := fmt.Sprintf("演示数据：%s（%s）", d.TitleZh, scale)
		var done int
		if err := m.db.Get(ctx, &done, `SELECT COUNT(*) FROM ds_ingest_runs WHERE task_name = ? AND status = 'committed'`, task); err != nil {
			return out, err
		}
		if done > 0 {
			continue
		}
		src := g.source(d.Name, sizes[d.Name])
		o := Options{Dataset: d.Name, TaskName: task, Kind: "seed", SourceName: "演示数据", BytesTotal: int64(sizes[d.Name]), Principal: iam.System()}
		finished := progress.Start("业务数据集 · " + d.TitleZh)
		if o.RunID, err = m.StartRun(ctx, o); err != nil {
			return out, err
		}
		res, err := m.runSource(ctx, d, src, defaults(d, o))
		if err != nil {
			return out, fmt.Errorf("%s: %w", d.TitleZh, err)
		}
		if err := m.saveDefects(ctx, d.Name, g.defects[d.Name]); err != nil {
			return out, err
		}
		out = append(out, fmt.Sprintf("  %s：写入 %d 条（其中有意设置的数据问题 %d 处），隔离 %d 条", d.TitleZh, res.Upserted+res.Unchanged, len(g.defects[d.Name]), res.Quarantined))
		g.defects[d.Name] = nil
		finished()
	}
	if n, err := m.seedRunHistory(ctx); err != nil {
		return out, err
	} else if n > 0 {
		out = append(out, fmt.Sprintf("  推送任务运行记录：%d 条（近 30 天）", n))
	}
	return out, nil
}

// Defect is one deliberate data problem of the demo data.
type Defect struct {
	Dataset string `db:"dataset" json:"dataset"`
	Key     string `db:"record_key" json:"record_key"` // natural key, parts joined by " / "
	Field   string `db:"field" json:"field"`
	Kind    string `db:"kind" json:"kind"`
	Note    string `db:"note" json:"note"`
}

// Defect kinds.
const (
	DefectIDInvalid      = "idno_invalid"        // personal ID number with a wrong check character (…_issue column set)
	DefectUSCCInvalid    = "uscc_invalid"        // credit code with a wrong check character (not a key)
	DefectNotInCodeTable = "code_not_in_table"   // value missing from its code table
	DefectIndustry       = "industry_invalid"    // industry code whose 大类 does not exist
	DefectDateOrder      = "date_order"          // a later date before an earlier one
	DefectMissing        = "missing_value"       // an expected value left empty
	DefectReference      = "reference_missing"   // refers to an enterprise that is not in the enterprise dataset
	DefectRegionMismatch = "region_mismatch"     // licence region differs from its holder's region
	DefectStatus         = "status_inconsistent" // status contradicts other values
)

// Defects lists the recorded deliberate defects of a dataset.
func Defects(ctx context.Context, q store.Q, dataset string) ([]Defect, error) {
	var out []Defect
	err := q.Select(ctx, &out, `SELECT dataset, record_key, field, kind, note FROM ds_demo_defects WHERE dataset = ? ORDER BY record_key, field, kind`, dataset)
	return out, err
}

func (m *Module) saveDefects(ctx context.Context, dataset string, ds []Defect) error {
	for len(ds) > 0 {
		n := min(len(ds), 500)
		batch := ds[:n]
		ds = ds[n:]
		q := `INSERT INTO ds_demo_defects(dataset, record_key, field, kind, note) VALUES ` + strings.TrimSuffix(strings.Repeat("(?, ?, ?, ?, ?), ", n), ", ") +
			` ON CONFLICT (dataset, record_key, field, kind) DO NOTHING`
		args := make([]any, 0, n*5)
		for _, d := range batch {
			args = append(args, dataset, d.Key, d.Field, d.Kind, d.Note)
		}
		if _, err := m.db.Exec(ctx, q, args...); err != nil {
			return err
		}
	}
	return nil
}

// generator makes the demo records.
type generator struct {
	sizes    map[string]int
	units    []unitInfo
	weights  []float64
	defects  map[string][]Defect
	products []CodeItem
}

type unitInfo struct {
	code, short string
	counties    []string
}

// Share of legal-person units per reporting unit (5th economic census; 杨凌 and 韩城 small).
var unitWeights = map[string]float64{
	"610100": 52.9, "610200": 1.6, "610300": 6.3, "610400": 6.5, "610500": 6.6, "610600": 4.2,
	"610700": 4.1, "610800": 8.7, "610900": 3.0, "611000": 2.2, "610403": 0.6, "610581": 1.0,
}

func newGenerator(sizes map[string]int) (*generator, error) {
	regs, err := iam.ParseRegions()
	if err != nil {
		return nil, err
	}
	g := &generator{sizes: sizes, defects: map[string][]Defect{}}
	byUnit := map[string]*unitInfo{}
	for _, u := range validate.ReportingUnits() {
		short := strings.TrimSuffix(validate.ReportingUnitName(u), "市")
		if u == "610403" {
			short = "杨凌"
		}
		byUnit[u] = &unitInfo{code: u, short: short}
	}
	for _, r := range regs {
		if r.Level == "county" && byUnit[r.ReportingUnit] != nil {
			byUnit[r.ReportingUnit].counties = append(byUnit[r.ReportingUnit].counties, r.Code)
		}
	}
	for _, u := range validate.ReportingUnits() {
		g.units = append(g.units, *byUnit[u])
		g.weights = append(g.weights, unitWeights[u])
	}
	rows, err := readCodeCSV(CodeSamplingProduct + ".csv")
	if err != nil {
		return nil, err
	}
	for _, r := range rows {
		g.products = append(g.products, CodeItem{Code: r[0], Name: r[1], Parent: r[2]})
	}
	return g, nil
}

// rng is the random source of record i of a dataset: independent of generation order.
func rng(dataset string, i int) *rand.Rand {
	var h uint64 = 1469598103934665603
	for _, c := range []byte(dataset) {
		h = (h ^ uint64(c)) * 1099511628211
	}
	return rand.New(rand.NewPCG(h, uint64(i)))
}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func (g *generator) unit(r *rand.Rand) unitInfo {
	x := r.Float64() * 100
	for i, w := range g.weights {
		if x < w {
			return g.units[i]
		}
		x -= w
	}
	return g.units[0]
}

const base31 = "0123456789ABCDEFGHJKLMNPQRTUWXY"

// orgBody is an 8-character organisation-code body unique per (prefix, n).
func orgBody(prefix string, n int) string {
	b := []byte(prefix)
	digits := make([]byte, 8-len(prefix))
	for i := len(digits) - 1; i >= 0; i-- {
		digits[i] = base31[n%31]
		n /= 31
	}
	return string(append(b, digits...))
}

func date(t time.Time) string { return t.Format(time.DateOnly) }

func daysBefore(r *rand.Rand, maxDays int) time.Time {
	return seedEpoch.AddDate(0, 0, -r.IntN(maxDays))
}

var (
	surnames  = []rune("王李张刘陈杨赵黄周吴徐孙胡朱高林何郭马罗梁宋郑谢韩唐冯于董萧程曹袁邓许傅沈曾彭吕苏卢蒋蔡贾丁魏薛叶阎余潘杜戴夏钟汪田任姜范方石姚谭廖邹熊金陆郝孔白崔康毛邱秦江史顾侯邵孟龙万段雷钱汤尹黎易常武乔贺赖龚文")
	givenName = []rune("伟芳娜秀英敏静丽强磊军洋勇艳杰娟涛明超秀兰霞平刚桂英华建国建华志强海燕红梅晓东文博子涵浩然欣怡")
	tradeName = []string{"秦岭", "长安", "丝路", "渭水", "汉江", "华山", "延河", "黄河", "古城", "大唐", "三秦", "关中", "终南", "太白", "雁塔", "曲江", "沣东", "灞柳",
		"秦川", "华清", "金鼎", "宏达", "鑫源", "恒泰", "瑞丰", "博远", "聚信", "德润", "安康", "兴盛", "众诚", "天宇", "嘉禾", "润泽", "中联", "新途"}
	tradeWord = map[string][]string{
		"C": {"智能装备", "机械制造", "新材料", "电子科技", "食品", "化工", "建材", "电气", "纺织", "包装材料", "汽车配件", "陶瓷"},
		"F": {"商贸", "贸易", "物资", "百货", "医药零售"}, "I": {"信息技术", "软件", "网络科技", "数据服务"},
		"E": {"建筑工程", "建设工程", "装饰工程"}, "H": {"餐饮管理", "酒店管理"}, "M": {"检测技术", "工程技术", "环境科技"}, "A": {"农业科技", "生态农业", "果业"},
	}
	industrySections = []struct {
		sec    string
		weight float64
		div    []string
	}{
		{"F", 30, []string{"51", "52"}}, {"C", 18, []string{"13", "14", "17", "18", "26", "29", "30", "33", "34", "35", "36", "38", "39"}},
		{"L", 10, []string{"71", "72"}}, {"I", 8, []string{"63", "64", "65"}}, {"E", 8, []string{"47", "48", "49", "50"}},
		{"H", 8, []string{"61", "62"}}, {"M", 6, []string{"73", "74", "75"}}, {"A", 5, []string{"01", "03", "05"}}, {"O", 7, []string{"80", "81", "82"}},
	}
	entTypes91 = []string{"1130", "1130", "1130", "1151", "1151", "1190", "1100", "1220", "4540", "4533", "2100"}
)

// entity is enterprise i as all datasets see it.
type entity struct {
	uscc, name, region, entType, industry, status string
	kind                                          byte // '1' enterprise, '2' individual business, '3' co-operative
	industrial                                    bool
	established                                   time.Time
}

func (g *generator) entity(i int) entity {
	r := rng("enterprise.entity", i)
	u := g.unit(r)
	county := pick(r, u.counties)
	e := entity{region: county}
	x := r.Float64()
	switch {
	case x < 0.80:
		e.kind = '1'
	case x < 0.95:
		e.kind = '2'
	default:
		e.kind = '3'
	}
	y := r.Float64() * 100
	sec := industrySections[0]
	for _, s := range industrySections {
		if y < s.weight {
			sec = s
			break
		}
		y -= s.weight
	}
	e.industry = pick(r, sec.div) + fmt.Sprintf("%02d", 10+r.IntN(80))
	if len(e.industry) > 4 {
		e.industry = e.industry[:4]
	}
	words := tradeWord[sec.sec]
	if words == nil {
		words = []string{"服务", "实业", "发展"}
	}
	trade := pick(r, tradeName) + pick(r, tradeName)[:3]
	switch e.kind {
	case '1':
		e.entType = pick(r, entTypes91)
		suffix := "有限公司"
		switch e.entType {
		case "1220":
			suffix = "股份有限公司"
		case "4540":
			suffix = "（个人独资）"
		case "4533":
			suffix = "（有限合伙）"
		case "2100":
			suffix = "有限公司" + validate.RegionName(county) + "分公司"
		}
		e.name = u.short + trade + pick(r, words) + suffix
		e.industrial = sec.sec == "C"
	case '2':
		e.entType = "9500"
		e.name = strings.TrimSuffix(strings.TrimSuffix(validate.RegionName(county), "区"), "县") + "区" + trade + pick(r, []string{"商店", "经营部", "餐馆", "便利店", "五金店", "农资店"})
		e.industry = pick(r, []string{"5212", "6210", "5291", "8010"})
	default:
		e.entType = "9100"
		e.name = u.short + trade + pick(r, []string{"种植", "养殖", "果业", "茶叶"}) + "专业合作社"
		e.industry = pick(r, []string{"0151", "0311", "0169"})
	}
	// Establishment: weighted to recent years, like the registration statistics.
	years := int(36 * (1 - r.Float64()*r.Float64()))
	e.established = seedEpoch.AddDate(-36+years, 0, -r.IntN(365))
	prefix := "MA"
	if e.established.Year() < 2016 {
		prefix = "7"
	}
	e.uscc = validate.MakeUSCC('9', e.kind, county, orgBody(prefix, i))
	s := r.Float64()
	switch {
	case s < 0.76:
		e.status = "存续"
	case s < 0.85:
		e.status = "在业"
	case s < 0.92:
		e.status = "吊销"
	case s < 0.99:
		e.status = "注销"
	default:
		e.status = "迁出"
	}
	return e
}

// industrial returns an industrial enterprise index near i (deterministic).
func (g *generator) industrial(i int) (int, entity) {
	n := g.sizes["enterprise"]
	for k := 0; k < 200; k++ {
		j := (i*7919 + k*104729) % n
		if e := g.entity(j); e.industrial {
			return j, e
		}
	}
	return i % n, g.entity(i % n)
}

func badCheckChar(code string) string {
	c := code[len(code)-1]
	for _, x := range []byte(base31) {
		if x != c {
			return code[:len(code)-1] + string(x)
		}
	}
	return code
}

func personName(r *rand.Rand) string {
	return string(pick(r, surnames)) + string(pick(r, givenName)) + func() string {
		if r.IntN(2) == 0 {
			return string(pick(r, givenName))
		}
		return ""
	}()
}

// source returns a streaming source of n records of a dataset.
func (g *generator) source(name string, n int) *genSource {
	d, _ := Get(name)
	s := &genSource{n: n, desc: fmt.Sprintf("演示数据生成器（%d 条）", n)}
	for _, f := range d.Fields {
		if !f.Derived {
			s.cols = append(s.cols, f.Name)
		}
	}
	idx := map[string]int{}
	for i, c := range s.cols {
		idx[c] = i
	}
	set := func(v []string, field, value string) { v[idx[field]] = value }
	defect := func(i int, key, field, kind, note string) {
		g.defects[name] = append(g.defects[name], Defect{Dataset: name, Key: key, Field: field, Kind: kind, Note: note})
	}
	today := seedEpoch
	switch name {
	case "enterprise":
		s.fill = func(i int, v []string) {
			e := g.entity(i)
			r := rng(name, i)
			set(v, "uscc", e.uscc)
			set(v, "name", e.name)
			set(v, "ent_type", e.entType)
			set(v, "industry_code", e.industry)
			rep := personName(r)
			set(v, "legal_rep", rep)
			if r.Float64() < 0.7 {
				id := validate.MakeCitizenID(e.region, seedEpoch.AddDate(-25-r.IntN(40), 0, -r.IntN(365)), r.IntN(1000), r.IntN(2) == 0)
				if r.Float64() < defectRate {
					id = badCheckChar(id)
					defect(i, e.uscc, "legal_rep_id_no", DefectIDInvalid, "法定代表人身份证号码校验码错误")
				}
				set(v, "legal_rep_id_no", id)
			}
			capital := []string{"3", "10", "50", "100", "200", "500", "1000", "3000", "5000"}[r.IntN(9)]
			if e.kind == '2' {
				capital = strconv.Itoa(1 + r.IntN(20))
			}
			set(v, "reg_capital", capital)
			set(v, "establish_date", date(e.established))
			approval := e.established.AddDate(0, 0, r.IntN(int(today.Sub(e.established).Hours()/24)+1))
			if r.Float64() < defectRate {
				approval = e.established.AddDate(0, 0, -1-r.IntN(300))
				defect(i, e.uscc, "approval_date", DefectDateOrder, "核准日期早于成立日期")
			}
			set(v, "approval_date", date(approval))
			if e.status == "注销" || e.status == "吊销" {
				if r.Float64() < defectRate*4 {
					defect(i, e.uscc, "cancel_date", DefectMissing, e.status+"但缺少注销/吊销日期")
				} else {
					set(v, "cancel_date", date(approval.AddDate(0, 0, r.IntN(900))))
				}
			}
			if r.Float64() < defectRate {
				set(v, "ent_type", "9999")
				defect(i, e.uscc, "ent_type", DefectNotInCodeTable, "主体类型代码不在代码表中")
			}
			if r.Float64() < defectRate {
				set(v, "industry_code", "99"+e.industry[2:])
				defect(i, e.uscc, "industry_code", DefectIndustry, "行业代码大类不存在")
			}
			if r.Float64() < defectRate {
				defect(i, e.uscc, "address", DefectMissing, "住所为空")
			} else {
				set(v, "address", "陕西省"+validate.RegionName(e.region[:4]+"00")+validate.RegionName(e.region)+pick(r, tradeName)+"路"+strconv.Itoa(1+r.IntN(300))+"号")
			}
			set(v, "region_code", e.region)
			set(v, "status", e.status)
			set(v, "reg_authority", validate.RegionName(e.region)+"市场监督管理局")
			if e.industrial {
				set(v, "is_industrial", "是")
				set(v, "quality_manager_count", strconv.Itoa(1+r.IntN(6)))
			} else {
				set(v, "is_industrial", "否")
			}
			set(v, "business_scope", "一般项目："+pick(r, []string{"技术服务、技术开发、技术咨询", "货物进出口、技术进出口", "日用百货销售", "机械设备研发与销售", "食品销售（仅销售预包装食品）"})+"。（除依法须经批准的项目外，凭营业执照依法自主开展经营活动）")
		}
	case "licence":
		cats := []string{"01", "02", "03", "04", "05", "06", "07", "08", "09", "10"}
		s.fill = func(i int, v []string) {
			r := rng(name, i)
			_, e := g.industrial(i)
			cat := pick(r, cats)
			no := fmt.Sprintf("(陕)XK%02d-%03d-%05d", 1+r.IntN(30), 1+r.IntN(300), i+1)
			set(v, "licence_no", no)
			key := no
			holder, region := e.uscc, e.region
			switch x := r.Float64(); {
			case x < defectRate:
				holder = validate.MakeUSCC('9', '1', e.region, orgBody("Y", i))
				defect(i, key, "holder_uscc", DefectReference, "持证企业不在市场主体数据集中")
			case x < 2*defectRate:
				holder = badCheckChar(holder)
				defect(i, key, "holder_uscc", DefectUSCCInvalid, "统一社会信用代码校验码错误")
			case x < 3*defectRate:
				for region == e.region {
					region = pick(r, pick(r, g.units).counties)
				}
				defect(i, key, "region_code", DefectRegionMismatch, "许可证所属区划与持证企业不一致")
			}
			set(v, "holder_uscc", holder)
			set(v, "holder_name", e.name)
			set(v, "product_category", cat)
			set(v, "product_name", map[string]string{"01": "热轧带肋钢筋", "02": "通用硅酸盐水泥", "03": "广播电视传输设备", "04": "人民币鉴别仪", "05": "铁路桥简支梁",
				"06": "电线电缆", "07": "危险化学品", "08": "危险化学品包装物", "09": "复混肥料", "10": "食品用塑料包装"}[cat])
			issue := daysBefore(r, 7*365)
			if issue.Before(e.established) { // a licence follows its holder's establishment
				issue = e.established.AddDate(0, 0, int(seedEpoch.Sub(e.established).Hours()/24/2))
			}
			expiry := issue.AddDate(5, 0, 0)
			if r.Float64() < defectRate {
				expiry = issue.AddDate(0, 0, -30)
				defect(i, key, "expiry_date", DefectDateOrder, "有效期至早于发证日期")
			}
			set(v, "issue_date", date(issue))
			set(v, "expiry_date", date(expiry))
			status := "有效"
			switch x := r.Float64(); {
			case x < 0.06:
				status = "注销"
			case x < 0.08:
				status = "撤销"
			case expiry.Before(today) && x < 0.18:
				defect(i, key, "status", DefectStatus, "已过有效期仍标为有效")
			case expiry.Before(today):
				status = "过期"
			}
			set(v, "status", status)
			set(v, "issuing_authority", "陕西省市场监督管理局")
			set(v, "region_code", region)
			set(v, "address", validate.RegionName(region)+"工业园区"+strconv.Itoa(1+r.IntN(50))+"号")
		}
	case "sampling":
		levels := []string{"省", "省", "省", "省", "省", "省", "市", "市", "国", "县"}
		stages := []string{"生产", "生产", "生产", "流通", "流通", "电商"}
		failed := map[string][]string{"01": {"纤维含量", "pH值", "甲醛含量"}, "02": {"输入功率和电流", "发热", "标志和说明"}, "03": {"燃气泄漏", "耐用性"},
			"04": {"总养分", "水溶性磷占有效磷百分率", "氯离子含量"}, "05": {"制动性能", "最高车速", "耐冲击性能"}, "06": {"导体电阻", "绝缘厚度", "不延燃试验"},
			"07": {"吸水率", "破坏强度", "耐腐蚀性能"}, "08": {"总迁移量", "高锰酸钾消耗量", "脱色试验"}}
		s.fill = func(i int, v []string) {
			r := rng(name, i)
			d := daysBefore(r, 7*365)
			no := fmt.Sprintf("SX%d%06d", d.Year(), i+1)
			set(v, "batch_no", no)
			set(v, "plan_level", pick(r, levels))
			set(v, "plan_name", fmt.Sprintf("%d年陕西省产品质量监督抽查（第%d批）", d.Year(), 1+int(d.Month()-1)/3))
			prod := pick(r, g.products)
			set(v, "product_name", prod.Name)
			if r.Float64() < defectRate {
				set(v, "product_name", prod.Name+"新款")
				defect(i, no, "category_code", DefectMissing, "产品未对应到八大类")
			}
			_, e := g.industrial(i * 3)
			producer := e.uscc
			if x := r.Float64(); x < 0.08 { // producers outside Shaanxi
				producer = validate.MakeUSCC('9', '1', pick(r, []string{"440300", "330100", "320500", "370200", "410100"}), orgBody("MA", 500000+i))
			} else if x < 0.08+defectRate {
				producer = badCheckChar(producer)
				defect(i, no, "producer_uscc", DefectUSCCInvalid, "生产企业统一社会信用代码校验码错误")
			}
			set(v, "producer_uscc", producer)
			set(v, "producer_name", e.name)
			set(v, "stage", pick(r, stages))
			set(v, "sampling_date", date(d))
			set(v, "region_code", e.region)
			if r.Float64() < 0.065 {
				set(v, "result", "不合格")
				if r.Float64() < defectRate*10 {
					defect(i, no, "failed_items", DefectMissing, "不合格但未填写不合格项目")
				} else {
					set(v, "failed_items", pick(r, failed[prod.Parent]))
				}
				steps := []string{"核查处置", "责令整改", "复查", "立案", "已办结"}
				k := r.IntN(len(steps))
				set(v, "followup_status", steps[k])
				t := d.AddDate(0, 0, 10+r.IntN(20))
				set(v, "disposal_date", date(t))
				if k >= 1 {
					rt := t.AddDate(0, 0, 5+r.IntN(10))
					if r.Float64() < defectRate*5 {
						rt = d.AddDate(0, 0, -3)
						defect(i, no, "rectify_date", DefectDateOrder, "责令整改日期早于抽样日期")
					}
					set(v, "rectify_date", date(rt))
				}
				if k >= 2 {
					set(v, "recheck_date", date(t.AddDate(0, 1, r.IntN(30))))
				}
				if k == 3 {
					set(v, "case_date", date(t.AddDate(0, 2, r.IntN(30))))
				}
			} else {
				set(v, "result", "合格")
			}
		}
	case "supervision":
		plans := []string{"电动自行车产品质量安全专项检查", "燃气器具质量安全专项整治", "儿童和学生用品质量安全检查", "工业产品生产许可证获证企业监督检查",
			"“双随机、一公开”监管抽查", "消防产品质量专项检查", "重点工业产品质量安全日常监管"}
		types := []string{"专项检查", "专项检查", "双随机抽查", "日常检查", "投诉举报核查"}
		s.fill = func(i int, v []string) {
			r := rng(name, i)
			d := daysBefore(r, 4*365)
			no := fmt.Sprintf("JC%d-%06d", d.Year(), i+1)
			_, e := g.industrial(i * 5)
			set(v, "record_no", no)
			set(v, "plan_name", fmt.Sprintf("%d年%s", d.Year(), pick(r, plans)))
			set(v, "inspect_type", pick(r, types))
			set(v, "target_uscc", e.uscc)
			set(v, "target_name", e.name)
			set(v, "inspect_date", date(d))
			set(v, "inspect_org", validate.RegionName(e.region)+"市场监督管理局")
			set(v, "region_code", e.region)
			if r.Float64() < 0.22 {
				set(v, "result", "发现问题")
				if r.Float64() < defectRate*5 {
					defect(i, no, "findings", DefectMissing, "发现问题但未记录问题")
				} else {
					set(v, "findings", pick(r, []string{"未建立质量安全追溯制度", "原材料进货查验记录不全", "出厂检验记录缺失", "未按规定配备质量安全员", "产品标识不规范"}))
				}
				set(v, "rectify_order_no", fmt.Sprintf("陕市监责改〔%d〕%d号", d.Year(), i+1))
				set(v, "rectify_deadline", date(d.AddDate(0, 0, 30)))
				if d.AddDate(0, 0, 45).Before(today) {
					rd := d.AddDate(0, 0, 35+r.IntN(20))
					if r.Float64() < defectRate*5 {
						rd = d.AddDate(0, 0, -2)
						defect(i, no, "reinspect_date", DefectDateOrder, "复查日期早于检查日期")
					}
					set(v, "reinspect_date", date(rd))
					if r.Float64() < 0.9 {
						set(v, "reinspect_result", "已整改")
					} else {
						set(v, "reinspect_result", "未整改")
						set(v, "case_filed", "是")
						set(v, "case_no", fmt.Sprintf("陕市监立字〔%d〕%d号", d.Year(), i+1))
					}
				}
			} else {
				set(v, "result", "未发现问题")
				set(v, "case_filed", "否")
			}
		}
	case "trace":
		traced := []CodeItem{}
		for _, p := range g.products {
			if p.Parent == "01" || p.Parent == "08" || p.Parent == "04" {
				traced = append(traced, p)
			}
		}
		s.fill = func(i int, v []string) {
			r := rng(name, i)
			_, e := g.industrial(i * 11)
			prod := traced[i%len(traced)]
			key := e.uscc + " / " + prod.Name
			set(v, "uscc", e.uscc)
			set(v, "enterprise_name", e.name)
			set(v, "product_name", prod.Name)
			set(v, "category_code", prod.Parent)
			on := r.Float64() < 0.72
			if on {
				set(v, "on_platform", "是")
				set(v, "platform_name", "陕西省重要产品追溯平台")
				set(v, "joined_date", date(daysBefore(r, 4*365)))
				issued := 100 + r.IntN(50000)
				set(v, "codes_issued", strconv.Itoa(issued))
				set(v, "codes_scanned", strconv.Itoa(r.IntN(issued)))
				set(v, "status", pick(r, []string{"正常", "正常", "正常", "停用"}))
			} else {
				set(v, "on_platform", "否")
				set(v, "status", "未接入")
				if r.Float64() < 0.05 {
					set(v, "codes_issued", strconv.Itoa(10+r.IntN(100)))
					defect(i, key, "codes_issued", DefectStatus, "未上平台却有赋码数量")
				}
			}
			set(v, "report_date", date(seedEpoch.AddDate(0, 0, -r.IntN(30))))
			set(v, "region_code", e.region)
		}
	case "ebike":
		brands := []string{"秦风", "长安行", "丝路骑", "古城", "渭水", "汉江风", "华岳", "三秦"}
		colors := []string{"白", "黑", "红", "蓝", "灰", "银"}
		s.fill = func(i int, v []string) {
			r := rng(name, i)
			u := g.unit(r)
			county := pick(r, u.counties)
			frame := fmt.Sprintf("%s%09d", []string{"QF", "CA", "SL", "GC", "WS", "HJ", "HY", "SQ"}[i%8], i+1)
			_, e := g.industrial(i * 13)
			set(v, "frame_no", frame)
			set(v, "brand", brands[i%8])
			set(v, "model", fmt.Sprintf("TDT%03dZ", 1+r.IntN(300)))
			if r.Float64() < defectRate {
				defect(i, frame, "ccc_cert_no", DefectMissing, "缺少 CCC 证书编号")
			} else {
				set(v, "ccc_cert_no", fmt.Sprintf("2021011119%06d", 1+r.IntN(999999)))
			}
			producer := e.uscc
			if r.Float64() < defectRate {
				producer = badCheckChar(producer)
				defect(i, frame, "producer_uscc", DefectUSCCInvalid, "生产企业统一社会信用代码校验码错误")
			}
			set(v, "producer_uscc", producer)
			set(v, "producer_name", e.name)
			reg := daysBefore(r, 5*365)
			set(v, "registration_date", date(reg))
			set(v, "status", pick(r, []string{"正常", "正常", "正常", "正常", "正常", "正常", "注销", "报废", "被盗抢"}))
			if r.Float64() < 0.6 {
				id := validate.MakeCitizenID(county, seedEpoch.AddDate(-18-r.IntN(50), 0, -r.IntN(365)), r.IntN(1000), r.IntN(2) == 0)
				if r.Float64() < defectRate {
					id = badCheckChar(id)
					defect(i, frame, "owner_id_no", DefectIDInvalid, "所有人身份证号码校验码错误")
				}
				set(v, "owner_id_no", id)
				set(v, "owner_phone", fmt.Sprintf("1%d%09d", []int{3, 5, 7, 8, 9}[r.IntN(5)], r.IntN(1_000_000_000)))
			}
			set(v, "region_code", county)
			set(v, "plate_no", fmt.Sprintf("陕%c%05d", 'A'+rune(i%10), i%100000))
			set(v, "color", pick(r, colors))
			made := reg.AddDate(0, 0, -10-r.IntN(120))
			set(v, "reg_authority", validate.RegionName(county)+"公安交警大队")
			if r.Float64() < defectRate && reg.Before(seedEpoch.AddDate(0, 0, -60)) {
				made = reg.AddDate(0, 0, 1+r.IntN(30)) // still in the past: only the order is wrong
				defect(i, frame, "manufacture_date", DefectDateOrder, "出厂日期晚于登记日期")
			}
			set(v, "manufacture_date", date(made))
		}
	case "resource":
		systems := []string{"登记注册系统", "许可审批系统", "监督抽查系统", "执法办案系统", "信用监管系统", "12315 投诉举报平台", "特种设备监管系统", "计量管理系统", "标准化管理系统", "食品安全监管系统"}
		kinds := []string{"库表", "库表", "库表", "接口", "文件"}
		subjects := []string{"市场主体登记信息", "股东出资信息", "行政许可信息", "行政处罚信息", "抽查结果信息", "经营异常名录", "严重违法失信名单", "投诉举报工单", "特种设备台账", "计量器具检定记录"}
		s.fill = func(i int, v []string) {
			r := rng(name, i)
			code := fmt.Sprintf("SXSJ-%04d", i+1)
			set(v, "resource_code", code)
			set(v, "name", subjects[i%len(subjects)]+func() string {
				if i >= len(subjects) {
					return fmt.Sprintf("（%d）", i/len(subjects)+1)
				}
				return ""
			}())
			set(v, "owner_system", systems[i%len(systems)])
			set(v, "owner_dept", pick(r, []string{"登记注册局", "产品质量安全监督管理处", "信用监督管理处", "执法稽查局", "特种设备安全监察处"}))
			set(v, "resource_type", pick(r, kinds))
			if r.Float64() < defectRate*3 {
				defect(i, code, "record_count", DefectMissing, "缺少数据量")
			} else {
				set(v, "record_count", strconv.Itoa(1000+r.IntN(5_000_000)))
			}
			set(v, "update_cycle", pick(r, []string{"实时", "每日", "每日", "每周", "每月"}))
			set(v, "shared", pick(r, []string{"是", "是", "否"}))
			set(v, "last_updated", date(daysBefore(r, 60)))
		}
	case "apicall":
		callers := []string{"省政务数据共享交换平台", "省市场监管数据中台", "秦务员政务服务平台", "信用中国（陕西）", "全国 12315 平台", "西安市市场监管局业务系统"}
		ifaces := []string{"市场主体基本信息查询", "许可证信息查询", "抽查结果查询", "行政处罚信息查询", "经营异常名录查询", "电动自行车登记查询", "追溯信息查询"}
		s.fill = func(i int, v []string) {
			r := rng(name, i)
			at := seedEpoch.Add(-time.Duration(r.Int64N(int64(90 * 24 * time.Hour))))
			set(v, "call_id", fmt.Sprintf("C%010d", i+1))
			set(v, "system", callers[int(r.ExpFloat64())%len(callers)])
			set(v, "interface_name", pick(r, ifaces))
			set(v, "called_at", at.Format("2006-01-02 15:04:05"))
			ok := r.Float64() < 0.985
			set(v, "success", map[bool]string{true: "成功", false: "失败"}[ok])
			if r.Float64() < defectRate {
				defect(i, fmt.Sprintf("C%010d", i+1), "latency_ms", DefectMissing, "缺少耗时")
			} else {
				set(v, "latency_ms", strconv.Itoa(int(20+r.ExpFloat64()*120)))
			}
			set(v, "status_code", map[bool]string{true: "200", false: pick(r, []string{"500", "502", "504", "429"})}[ok])
		}
	}
	return s
}

// genSource yields generated records.
type genSource struct {
	cols []string
	n, i int
	fill func(i int, v []string)
	desc string
}

func (s *genSource) Columns() []string { return s.cols }
func (s *genSource) Fixed() bool       { return true }
func (s *genSource) Offset() int64     { return int64(s.i) }
func (s *genSource) Describe() string  { return s.desc }
func (s *genSource) Next() (*record, error) {
	if s.i >= s.n {
		return nil, io.EOF
	}
	v := make([]string, len(s.cols))
	s.fill(s.i, v)
	s.i++
	return &record{line: s.i, vals: v}, nil
}

// seedRunHistory adds 30 days of push-task runs of the exchange-platform tasks (the data-asset
// dashboard's history), once.
func (m *Module) seedRunHistory(ctx context.Context) (int, error) {
	var n int
	if err := m.db.Get(ctx, &n, `SELECT COUNT(*) FROM ds_ingest_runs WHERE notes = '演示数据：历史运行记录'`); err != nil || n > 0 {
		return 0, err
	}
	tasks := []struct {
		name, dataset, schedule, kind string
		perDay, rows                  int
	}{
		{"市场主体登记信息推送（交换平台）", "enterprise", ScheduleRealtime, KindHTTPPush, 24, 400},
		{"工业产品生产许可证同步（许可审批系统）", "licence", ScheduleScheduled, KindSQLPull, 1, 60},
		{"监督抽查结果同步（抽查系统）", "sampling", ScheduleScheduled, KindSQLPull, 2, 120},
		{"监督检查记录拉取（执法办案系统）", "supervision", ScheduleScheduled, KindHTTPPull, 1, 80},
		{"追溯平台状态报告拉取", "trace", ScheduleScheduled, KindHTTPPull, 1, 40},
		{"电动自行车登记数据推送（公安交管）", "ebike", ScheduleRealtime, KindHTTPPush, 6, 150},
		{"接口调用日志汇聚（交换平台）", "apicall", ScheduleScheduled, KindHTTPPull, 24, 3000},
	}
	count := 0
	err := m.db.InTx(ctx, func(tx *store.Tx) error {
		for ti, t := range tasks {
			for day := 30; day >= 1; day-- {
				for k := 0; k < t.perDay; k++ {
					r := rng("runs."+t.name, day*100+k)
					start := seedEpoch.AddDate(0, 0, -day).Add(time.Duration(k*24/t.perDay)*time.Hour + time.Duration(r.IntN(600))*time.Second).UTC()
					if start.After(m.now()) {
						continue
					}
					read := t.rows/2 + r.IntN(t.rows)
					status, errMsg := StatusCommitted, ""
					if r.Float64() < 0.03 {
						status = StatusFailed
						errMsg = pick(r, []string{"导入失败：连接源数据库超时", "导入失败：源接口返回 502", "缺少必需的列：统一社会信用代码（可用列名：统一社会信用代码、信用代码 或 uscc）"})
						read = r.IntN(read / 2)
					}
					quar := 0
					if status == StatusCommitted {
						quar = r.IntN(read/50 + 1)
					}
					up := (read - quar) * (20 + r.IntN(60)) / 100
					dur := int64(300 + r.IntN(20000))
					if _, err := tx.Exec(ctx, `INSERT INTO ds_ingest_runs(dataset, task_name, schedule_type, source_kind, source_name, status, actor, region_code,
						started_at, heartbeat_at, finished_at, duration_ms, read_count, upserted, unchanged, quarantined, notes, error)
						VALUES (?, ?, ?, ?, ?, ?, 'system', '610000', ?, ?, ?, ?, ?, ?, ?, ?, '演示数据：历史运行记录', ?)`,
						t.dataset, t.name, t.schedule, t.kind, fmt.Sprintf("task-%d", ti+1), status, start, start, start.Add(time.Duration(dur)*time.Millisecond),
						dur, read, up, read-quar-up, quar, errMsg); err != nil {
						return err
					}
					count++
				}
			}
		}
		return nil
	})
	return count, err
}
