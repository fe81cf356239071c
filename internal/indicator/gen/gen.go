// Package gen generates deterministic market-supervision rows straight into the dataset
// tables: the four topic datasets for the demo, and every dataset for the indicator and
// dashboard tests and benchmarks (where the data hub's ingestion would be too slow to fill a
// million rows per run). Values are plausible and pass the built-in quality rules (credit codes
// carry valid check characters, dates are in order, counts are not negative), but they are not
// written through ingestion: the data hub's seeder is the realistic one, with its deliberate
// defects.
package gen

import (
	"context"
	"fmt"
	"strings"
	"time"

	"zhsj/internal/dataset/validate"
	"zhsj/internal/iam"
	"zhsj/internal/store"
)

// Sizes is how many rows to write per dataset.
type Sizes map[string]int

// Tiny is for unit tests: every dataset, a few hundred rows.
var Tiny = Sizes{"enterprise": 400, "licence": 120, "sampling": 600, "supervision": 300, "trace": 150, "ebike": 200,
	"resource": 40, "apicall": 1500, "complaint": 300, "special_equipment": 200, "food_licence": 200, "opinion": 200}

// Demo is the demo scale of the topic datasets.
var Demo = Sizes{"complaint": 3000, "special_equipment": 2000, "food_licence": 2500, "opinion": 1500}

// Large is the benchmark scale (issue 3's --scale large).
var Large = Sizes{"enterprise": 1_000_000, "licence": 50_000, "sampling": 500_000, "supervision": 100_000, "trace": 20_000, "ebike": 100_000,
	"resource": 2_000, "apicall": 10_000_000, "complaint": 200_000, "special_equipment": 100_000, "food_licence": 150_000, "opinion": 50_000}

// Options tune a fill.
type Options struct {
	Start, End time.Time // dates fall in [Start, End]; default 2021-01-01 .. today
	Offset     int       // first row number (to add rows to an earlier fill without key clashes)
	Regions    []string  // restrict rows to these stored region codes
	Source     string    // the rows' source; default "gen"
	RunID      int64
	Batch      int // rows per INSERT; default 500

	entities int // enterprises that other datasets' rows refer to
}

// mix is splitmix64: a cheap, stateless hash giving row i its k-th pseudo-random number.
func mix(i, k uint64) uint64 {
	z := i*0x9E3779B97F4A7C15 + k*0xBF58476D1CE4E5B9 + 0x94D049BB133111EB
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

type row struct {
	i uint64
	k uint64
}

func (r *row) n(m int) int {
	r.k++
	return int(mix(r.i, r.k) % uint64(m))
}

func (r *row) pct(p int) bool { return r.n(100) < p }

func pick[T any](r *row, xs []T) T { return xs[r.n(len(xs))] }

// counties is the weighted list of stored region codes rows fall in.
var counties = func() []string {
	rs, err := iam.ParseRegions()
	if err != nil {
		panic(err)
	}
	var out []string
	for _, r := range rs {
		switch {
		case r.Level == "province":
		case strings.HasPrefix(r.Code, "6101"):
			out = append(out, r.Code, r.Code, r.Code) // Xi'an has half the entities
		default:
			out = append(out, r.Code)
		}
	}
	return out
}()

func (o *Options) region(r *row) string {
	if len(o.Regions) > 0 {
		return pick(r, o.Regions)
	}
	return pick(r, counties)
}

func (o *Options) date(r *row) string {
	days := int(o.End.Sub(o.Start).Hours()/24) + 1
	return o.Start.AddDate(0, 0, r.n(days)).Format("2006-01-02")
}

// USCC is the credit code of generated enterprise i (the same for every dataset): a valid
// GB 32100 code (both check characters computed), so that the built-in credit-code rules pass
// on generated data.
func USCC(i int, region string) string {
	return validate.MakeUSCC('9', '1', region, orgBody(i))
}

// orgBody is the 8-character organisation-code body of enterprise i: its number in eight
// decimal digits, or, from 10^8 on, a letter followed by seven base-31 characters of the
// GB 32100 character set (so that the two forms never collide).
func orgBody(i int) string {
	const decimal = 100_000_000
	if i >= 0 && i < decimal {
		return fmt.Sprintf("%08d", i)
	}
	const charset = "0123456789ABCDEFGHJKLMNPQRTUWXY" // GB 32100 characters
	letters := charset[10:]
	n := uint64(i) - decimal
	var b [8]byte
	for k := 7; k > 0; k-- {
		b[k] = charset[n%31]
		n /= 31
	}
	b[0] = letters[n%uint64(len(letters))]
	return string(b[:])
}

// enterpriseRegion is where enterprise i is registered (stable across datasets).
func enterpriseRegion(i int) string {
	return counties[mix(uint64(i), 999)%uint64(len(counties))]
}

type table struct {
	name, table string
	cols        []string
	row         func(o *Options, r *row, i int) []any
}

var statusEnt = []string{"存续", "存续", "存续", "在业", "在业", "吊销", "注销", "迁出"}

var tables = []table{
	{"enterprise", "ds_enterprise", []string{"uscc", "name", "ent_type", "industry_code", "legal_rep", "reg_capital", "establish_date", "address", "region_code", "status", "reg_authority", "is_industrial", "quality_manager_count"},
		func(o *Options, r *row, i int) []any {
			reg := enterpriseRegion(i)
			if len(o.Regions) > 0 {
				reg = o.region(r)
			}
			ind := r.pct(30)
			qm := 0
			if ind {
				qm = 1 + r.n(4)
			}
			return []any{USCC(i, reg), fmt.Sprintf("陕西演示企业%07d有限公司", i), pick(r, []string{"1100", "1130", "1150", "1200", "9100"}),
				pick(r, []string{"1311", "2641", "3311", "3841", "5211", "7291"}), "张" + fmt.Sprint(i%97), fmt.Sprint(10 + r.n(5000)), o.date(r),
				"陕西省演示地址" + fmt.Sprint(i), reg, pick(r, statusEnt), "市场监督管理局", ind, qm}
		}},
	{"licence", "ds_licence", []string{"licence_no", "holder_uscc", "holder_name", "product_category", "product_name", "issue_date", "expiry_date", "status", "issuing_authority", "region_code"},
		func(o *Options, r *row, i int) []any {
			e := r.n(o.entities)
			reg := enterpriseRegion(e)
			if len(o.Regions) > 0 {
				reg = o.region(r)
			}
			d := o.date(r)
			t, _ := time.Parse("2006-01-02", d)
			return []any{fmt.Sprintf("(陕)XK%02d-%03d-%05d", 10+r.n(20), r.n(999), i), USCC(e, reg), fmt.Sprintf("陕西演示企业%07d有限公司", e),
				fmt.Sprintf("%02d", 1+r.n(10)), "产品", d, t.AddDate(5, 0, 0).Format("2006-01-02"),
				pick(r, []string{"有效", "有效", "有效", "有效", "注销", "撤销", "吊销", "过期"}), "陕西省市场监督管理局", reg}
		}},
	{"sampling", "ds_sampling", []string{"batch_no", "plan_level", "plan_name", "product_name", "category_code", "producer_uscc", "producer_name", "stage", "sampling_date", "region_code", "result", "failed_items", "followup_status"},
		func(o *Options, r *row, i int) []any {
			e := r.n(max(1, o.entities*2/5))
			reg := enterpriseRegion(e)
			if len(o.Regions) > 0 {
				reg = o.region(r)
			}
			res, failed, follow := "合格", any(nil), any(nil)
			if r.pct(7) {
				res, failed, follow = "不合格", "标志和使用说明", pick(r, []any{nil, "核查处置", "责令整改", "复查", "立案", "已办结"})
			}
			cat := fmt.Sprintf("%02d", 1+r.n(8))
			return []any{fmt.Sprintf("SC%09d", i), pick(r, []string{"国", "省", "省", "市", "县"}), "监督抽查计划", "产品" + cat, cat,
				USCC(e, reg), fmt.Sprintf("陕西演示企业%07d有限公司", e), pick(r, []string{"生产", "流通", "电商"}), o.date(r), reg, res, failed, follow}
		}},
	{"supervision", "ds_supervision", []string{"record_no", "plan_name", "inspect_type", "target_uscc", "target_name", "inspect_date", "inspect_org", "region_code", "result", "findings", "rectify_order_no", "reinspect_date", "reinspect_result", "case_filed"},
		func(o *Options, r *row, i int) []any {
			e := r.n(o.entities)
			reg := o.region(r)
			d := o.date(r)
			found := r.pct(30)
			res, findings, order, redate, reres := "未发现问题", any(nil), any(nil), any(nil), any(nil)
			if found {
				res, findings = "发现问题", "台账不全"
				if r.pct(80) {
					order = fmt.Sprintf("ZG%08d", i)
					if r.pct(70) {
						redate, reres = d, pick(r, []string{"已整改", "已整改", "未整改"})
					}
				}
			}
			typ := pick(r, []string{"专项检查", "双随机抽查", "日常检查", "投诉举报核查"})
			plan := "日常监督检查"
			if typ == "专项检查" {
				plan = fmt.Sprintf("%s专项整治行动%d", pick(r, []string{"电动自行车", "燃气具", "儿童用品", "电线电缆", "化肥"}), 2021+r.n(5))
			}
			return []any{fmt.Sprintf("JC%09d", i), plan, typ, USCC(e, reg), fmt.Sprintf("陕西演示企业%07d有限公司", e), d, "市场监督管理局", reg, res, findings, order, redate, reres, found && r.pct(10)}
		}},
	{"trace", "ds_trace", []string{"uscc", "enterprise_name", "product_name", "category_code", "platform_name", "on_platform", "joined_date", "codes_issued", "codes_scanned", "report_date", "status", "region_code"},
		func(o *Options, r *row, i int) []any {
			e := i / 3 // three products per enterprise
			reg := enterpriseRegion(e)
			if len(o.Regions) > 0 {
				reg = o.region(r)
			}
			on := r.pct(70)
			st, issued, scanned, joined := "未接入", 0, 0, any(nil)
			if on {
				st, issued, scanned, joined = pick(r, []string{"正常", "正常", "正常", "停用"}), 1000+r.n(100000), r.n(50000), o.date(r)
			}
			return []any{USCC(e, reg), fmt.Sprintf("陕西演示企业%07d有限公司", e), fmt.Sprintf("追溯产品%d", i%3), fmt.Sprintf("%02d", 1+r.n(8)),
				"陕西省重要产品追溯平台", on, joined, issued, scanned, o.date(r), st, reg}
		}},
	{"ebike", "ds_ebike", []string{"frame_no", "brand", "model", "ccc_cert_no", "producer_uscc", "producer_name", "registration_date", "status", "region_code", "extra"},
		func(o *Options, r *row, i int) []any {
			brand := pick(r, []string{"雅迪", "爱玛", "台铃", "新日", "绿源", "小牛", "九号"})
			return []any{fmt.Sprintf("EB%012d", i), brand, fmt.Sprintf("TDT%03dZ", r.n(400)), fmt.Sprintf("2023011119%06d", r.n(999999)),
				USCC(r.n(1000), "320000"), brand + "科技股份有限公司", o.date(r), pick(r, []string{"正常", "正常", "正常", "注销", "被盗抢", "报废"}), o.region(r), "{}"}
		}},
	{"resource", "ds_resource", []string{"resource_code", "name", "owner_system", "owner_dept", "resource_type", "record_count", "update_cycle", "shared", "last_updated", "region_code"},
		func(o *Options, r *row, i int) []any {
			return []any{fmt.Sprintf("ZY%06d", i), fmt.Sprintf("数据资源%d", i), pick(r, systems), "数据资源处", pick(r, []string{"库表", "接口", "文件"}),
				r.n(5_000_000), pick(r, []string{"实时", "每日", "每周", "每月"}), r.pct(80), o.date(r), "610000"}
		}},
	{"apicall", "ds_apicall", []string{"call_id", "system", "interface_name", "called_at", "call_date", "success", "latency_ms", "status_code", "region_code"},
		func(o *Options, r *row, i int) []any {
			d := o.date(r)
			t, _ := time.ParseInLocation("2006-01-02", d, shanghai)
			at := t.Add(time.Duration(r.n(86400)) * time.Second).UTC()
			ok := r.pct(97)
			code := 200
			if !ok {
				code = pick(r, []int{500, 502, 504, 401})
			}
			reg := "610000"
			if len(o.Regions) > 0 {
				reg = o.region(r)
			}
			return []any{fmt.Sprintf("CALL%011d", i), pick(r, systems), pick(r, []string{"企业基本信息查询", "许可证查询", "抽查结果推送", "信用信息查询"}), at, d, ok, 5 + r.n(800), code, reg}
		}},
	{"complaint", "ds_complaint", []string{"complaint_no", "kind", "domain", "subject_uscc", "subject_name", "channel", "received_date", "status", "closed_date", "recovered_amount", "region_code"},
		func(o *Options, r *row, i int) []any {
			d := o.date(r)
			st, closed := "处理中", any(nil)
			if r.pct(85) {
				st, closed = "已办结", d
			}
			e := r.n(o.entities)
			return []any{fmt.Sprintf("TS%010d", i), pick(r, []string{"投诉", "投诉", "举报", "咨询"}), pick(r, []string{"食品", "食品", "药品", "特种设备", "工业产品", "价格", "不正当竞争", "广告", "网络交易", "其他"}),
				USCC(e, enterpriseRegion(e)), fmt.Sprintf("陕西演示企业%07d有限公司", e), pick(r, []string{"12315热线", "全国12315平台", "来信来访", "其他部门转办"}), d, st, closed, r.n(20000), o.region(r)}
		}},
	{"special_equipment", "ds_special_equipment", []string{"equipment_code", "equipment_type", "user_uscc", "user_name", "register_date", "next_inspection_date", "status", "region_code"},
		func(o *Options, r *row, i int) []any {
			d := o.date(r)
			t, _ := time.Parse("2006-01-02", d)
			e := r.n(o.entities)
			return []any{fmt.Sprintf("SE%010d", i), pick(r, []string{"电梯", "电梯", "电梯", "压力容器", "锅炉", "起重机械", "场（厂）内专用机动车辆", "压力管道", "大型游乐设施"}),
				USCC(e, enterpriseRegion(e)), fmt.Sprintf("陕西演示企业%07d有限公司", e), d, t.AddDate(1, 0, 0).Format("2006-01-02"),
				pick(r, []string{"在用", "在用", "在用", "在用", "停用", "报废", "超期未检"}), o.region(r)}
		}},
	{"food_licence", "ds_food_licence", []string{"licence_no", "holder_uscc", "holder_name", "business_type", "issue_date", "expiry_date", "status", "region_code"},
		func(o *Options, r *row, i int) []any {
			d := o.date(r)
			t, _ := time.Parse("2006-01-02", d)
			e := r.n(o.entities)
			return []any{fmt.Sprintf("JY%014d", i), USCC(e, enterpriseRegion(e)), fmt.Sprintf("陕西演示食品经营者%07d", e),
				pick(r, []string{"食品销售经营者", "食品销售经营者", "餐饮服务经营者", "单位食堂"}), d, t.AddDate(5, 0, 0).Format("2006-01-02"),
				pick(r, []string{"有效", "有效", "有效", "有效", "注销", "撤销", "过期"}), o.region(r)}
		}},
	{"opinion", "ds_opinion", []string{"item_id", "title", "media", "domain", "sentiment", "heat", "published_date", "region_code"},
		func(o *Options, r *row, i int) []any {
			dom := pick(r, []string{"食品", "药品", "特种设备", "工业产品", "价格", "不正当竞争", "广告", "网络交易", "其他"})
			return []any{fmt.Sprintf("YQ%010d", i), dom + "相关舆情" + fmt.Sprint(i), pick(r, []string{"新闻网站", "微博", "微信", "短视频", "论坛"}), dom,
				pick(r, []string{"正面", "中性", "中性", "负面"}), r.n(10000), o.date(r), o.region(r)}
		}},
}

var systems = []string{"国家企业信用信息公示系统", "陕西政务服务网", "12315 平台", "特种设备监管系统", "食品安全追溯平台", "数据共享交换平台"}

var shanghai = time.FixedZone("CST", 8*3600)

// Fill writes n rows of each dataset in sizes (datasets not in sizes are left alone).
func Fill(ctx context.Context, db *store.DB, sizes Sizes, o Options) error {
	if o.Start.IsZero() {
		o.Start = time.Date(2021, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if o.End.IsZero() {
		now := time.Now().In(shanghai)
		o.End = time.Date(now.Year(), now.Month(), now.Day(), 0, 0, 0, 0, time.UTC)
	}
	if o.Source == "" {
		o.Source = "gen"
	}
	if o.Batch <= 0 {
		o.Batch = 500
	}
	o.entities = 1_000_000
	if n := sizes["enterprise"]; n > 0 {
		o.entities = n
	}
	for _, t := range tables {
		n, ok := sizes[t.name]
		if !ok || n <= 0 {
			continue
		}
		if err := fillTable(ctx, db, t, n, o); err != nil {
			return fmt.Errorf("生成 %s: %w", t.name, err)
		}
	}
	return nil
}

func fillTable(ctx context.Context, db *store.DB, t table, n int, o Options) error {
	cols := append(append([]string(nil), t.cols...), "source", "row_hash", "first_seen_at", "last_updated_at", "last_run_id")
	// Batches of up to o.Batch rows, each its own multi-row INSERT; many batches per transaction.
	per := o.Batch
	if max := 30000 / len(cols); per > max {
		per = max
	}
	now := store.Now()
	var runID any
	if o.RunID > 0 {
		runID = o.RunID
	}
	stmt := func(rows int) string {
		one := "(" + strings.TrimSuffix(strings.Repeat("?,", len(cols)), ",") + ")"
		return "INSERT INTO " + t.table + "(" + strings.Join(cols, ", ") + ") VALUES " + strings.TrimSuffix(strings.Repeat(one+",", rows), ",")
	}
	const perTx = 50
	for start := 0; start < n; {
		err := db.InTx(ctx, func(tx *store.Tx) error {
			for b := 0; b < perTx && start < n; b++ {
				end := min(start+per, n)
				args := make([]any, 0, (end-start)*len(cols))
				for i := start; i < end; i++ {
					id := o.Offset + i
					r := &row{i: uint64(id)*131 + uint64(len(t.name))}
					vals := t.row(&o, r, id)
					args = append(args, vals...)
					args = append(args, o.Source, fmt.Sprintf("%x", mix(uint64(id), 7)), now, now, runID)
				}
				if _, err := tx.Exec(ctx, stmt(end-start), args...); err != nil {
					return err
				}
				start = end
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// Datasets are the names gen can fill.
func Datasets() []string {
	out := make([]string, len(tables))
	for i, t := range tables {
		out[i] = t.name
	}
	return out
}
