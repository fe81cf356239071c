package quality

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"zhsj/internal/demo"
	"zhsj/internal/jobs"
)

// BuiltinRules are the rules every installation starts with, written against the datasets of
// internal/dataset (the eight registers and the topic libraries' four datasets). They are added once; users may then tune or disable them. Rules whose dataset is
// absent are skipped.
func BuiltinRules() []*Rule {
	r := func(code, name, ds, tpl, dim, sev string, thr float64, p Params) *Rule {
		return &Rule{Code: code, Name: name, Dataset: ds, Template: tpl, Dimension: dim, Severity: sev, Threshold: thr, Params: p, Enabled: true}
	}
	n := func(v float64) *float64 { return &v }
	i := func(v int) *int { return &v }
	one := int64(1)
	return []*Rule{
		// 市场主体: row-level rules, all computed in one scan.
		r("ENT_USCC_VALID", "统一社会信用代码校验", "enterprise", "uscc", "规范性", "critical", 99.9, Params{Column: "uscc"}),
		r("ENT_NAME_NOT_EMPTY", "企业名称不为空", "enterprise", "not_empty", "完整性", "critical", 100, Params{Column: "name"}),
		r("ENT_NAME_LENGTH", "企业名称长度 2–200 字", "enterprise", "length", "规范性", "warning", 99.9, Params{Column: "name", MinLen: i(2), MaxLen: i(200)}),
		r("ENT_TYPE_IN_CODE", "主体类型在代码表中", "enterprise", "in_set", "规范性", "warning", 99, Params{Column: "ent_type", CodeTable: "ent_type"}),
		r("ENT_STATUS_VALID", "登记状态取值规范", "enterprise", "in_set", "规范性", "warning", 99.9, Params{Column: "status"}),
		r("ENT_REGION_VALID", "行政区划代码有效", "enterprise", "region", "规范性", "critical", 99.9, Params{Column: "region_code"}),
		r("ENT_ESTABLISH_NOT_FUTURE", "成立日期不晚于今天", "enterprise", "not_future", "准确性", "warning", 99.9, Params{Column: "establish_date"}),
		r("ENT_ESTABLISH_NOT_EMPTY", "成立日期不为空", "enterprise", "not_empty", "完整性", "warning", 99, Params{Column: "establish_date"}),
		r("ENT_CAPITAL_RANGE", "注册资本在合理范围（0–1 亿万元）", "enterprise", "range", "准确性", "warning", 99, Params{Column: "reg_capital", Min: n(0), Max: n(1e8)}),
		r("ENT_LEGAL_REP_ID_VALID", "法定代表人证件号码校验", "enterprise", "idcard", "规范性", "critical", 99, Params{Column: "legal_rep_id_no"}),
		r("ENT_ADDRESS_NOT_EMPTY", "住所不为空", "enterprise", "not_empty", "完整性", "info", 95, Params{Column: "address"}),
		r("ENT_INDUSTRY_FORMAT", "行业代码格式（GB/T 4754）", "enterprise", "regex", "准确性", "info", 99, Params{Column: "industry_code", Pattern: "^[0-9]{2,4}$"}),
		r("ENT_INDUSTRY_IN_CODE", "行业代码的大类在国民经济行业分类中", "enterprise", "custom_condition", "准确性", "info", 99,
			Params{Condition: "industry_code IS NOT NULL AND TRIM(industry_code) <> '' AND SUBSTR(industry_code, 1, 2) NOT IN (SELECT code FROM ds_code_items WHERE table_name = 'industry' AND enabled)"}),
		r("ENT_DATE_ORDER", "成立日期不晚于核准日期", "enterprise", "date_order", "一致性", "warning", 99, Params{Columns: []string{"establish_date", "approval_date"}}),
		r("ENT_CANCEL_DATE", "注销或吊销的主体有注销/吊销日期", "enterprise", "custom_condition", "一致性", "info", 95,
			Params{Condition: "status IN ('注销', '吊销') AND (cancel_date IS NULL OR cancel_date = '')"}),
		r("ENT_FRESHNESS", "市场主体数据 7 天内有更新", "enterprise", "freshness", "时效性", "warning", 100, Params{Hours: 168}),
		r("ENT_VOLUME", "市场主体数量变化在 -10%～+50% 之间", "enterprise", "volume", "完整性", "warning", 100, Params{MinChange: n(-10), MaxChange: n(50)}),
		r("ENT_AVAILABLE", "市场主体数据可访问", "enterprise", "available", "可访问性", "critical", 100, Params{MinRows: &one}),

		// 工业产品生产许可证
		r("LIC_NO_FORMAT", "许可证编号格式", "licence", "regex", "规范性", "warning", 99.9, Params{Column: "licence_no", Pattern: `^(\(.\))?XK[0-9]{2}-[0-9]{3}-[0-9]{5}$`}),
		r("LIC_HOLDER_USCC_VALID", "持证企业信用代码校验", "licence", "uscc", "规范性", "critical", 99.9, Params{Column: "holder_uscc"}),
		r("LIC_HOLDER_EXISTS", "持证企业为登记在册的市场主体", "licence", "referential", "一致性", "warning", 95, Params{Column: "holder_uscc", RefDataset: "enterprise"}),
		r("LIC_REGION_CONSISTENT", "许可证区划与持证企业区划一致", "licence", "consistency", "一致性", "info", 90,
			Params{Column: "holder_uscc", RefDataset: "enterprise", ValueColumn: "region_code", RefColumn: "region_code"}),
		r("LIC_DATE_ORDER", "成立日期 ≤ 发证日期 ≤ 有效期至", "licence", "date_order", "一致性", "warning", 99,
			Params{Columns: []string{"ref.establish_date", "issue_date", "expiry_date"}, Column: "holder_uscc", RefDataset: "enterprise"}),
		r("LIC_ISSUE_NOT_FUTURE", "发证日期不晚于今天", "licence", "not_future", "准确性", "warning", 100, Params{Column: "issue_date"}),
		r("LIC_CATEGORY_IN_CODE", "产品类别在许可目录中", "licence", "in_set", "规范性", "warning", 99, Params{Column: "product_category", CodeTable: "licence_category"}),
		r("LIC_EXPIRED_STATUS", "已过有效期的许可证状态不为有效", "licence", "custom_condition", "时效性", "warning", 99,
			Params{Condition: "status = '有效' AND expiry_date < zhsj_today()"}),

		// 监督抽查
		r("SMP_PRODUCER_USCC_VALID", "生产企业信用代码校验", "sampling", "uscc", "规范性", "warning", 99, Params{Column: "producer_uscc"}),
		r("SMP_DATE_NOT_FUTURE", "抽样日期不晚于今天", "sampling", "not_future", "准确性", "warning", 100, Params{Column: "sampling_date"}),
		r("SMP_CATEGORY_IN_CODE", "产品大类在代码表中", "sampling", "in_set", "规范性", "warning", 99, Params{Column: "category_code", CodeTable: "sampling_category"}),
		r("SMP_CATEGORY_NOT_EMPTY", "产品大类不为空", "sampling", "not_empty", "完整性", "warning", 99, Params{Column: "category_code"}),
		r("SMP_FAILED_ITEMS", "不合格批次写明不合格项目", "sampling", "custom_condition", "完整性", "warning", 99,
			Params{Condition: "result = '不合格' AND (failed_items IS NULL OR TRIM(failed_items) = '')"}),
		r("SMP_FOLLOWUP", "不合格批次有后处理状态", "sampling", "custom_condition", "完整性", "warning", 95,
			Params{Condition: "result = '不合格' AND (followup_status IS NULL OR followup_status = '')"}),
		r("SMP_FOLLOWUP_ORDER", "抽样 ≤ 核查处置 ≤ 责令整改 ≤ 复查", "sampling", "date_order", "一致性", "info", 99,
			Params{Columns: []string{"sampling_date", "disposal_date", "rectify_date", "recheck_date"}}),

		// 监督检查
		r("SUP_TARGET_USCC_VALID", "检查对象信用代码校验", "supervision", "uscc", "规范性", "warning", 99, Params{Column: "target_uscc"}),
		r("SUP_DATE_NOT_FUTURE", "检查日期不晚于今天", "supervision", "not_future", "准确性", "warning", 100, Params{Column: "inspect_date"}),
		r("SUP_REINSPECT_ORDER", "复查日期不早于检查日期", "supervision", "date_order", "一致性", "warning", 99, Params{Columns: []string{"inspect_date", "reinspect_date"}}),
		r("SUP_FINDINGS", "发现问题的检查写明问题", "supervision", "custom_condition", "完整性", "warning", 99,
			Params{Condition: "result = '发现问题' AND (findings IS NULL OR TRIM(findings) = '')"}),
		r("SUP_CASE_NO", "已立案的检查有案件编号", "supervision", "custom_condition", "完整性", "info", 95,
			Params{Condition: "case_filed AND (case_no IS NULL OR case_no = '')"}),

		// 追溯、电动自行车、数据资产
		r("TRC_USCC_VALID", "追溯企业信用代码校验", "trace", "uscc", "规范性", "warning", 99, Params{Column: "uscc"}),
		r("TRC_CODES_RANGE", "赋码数量不为负", "trace", "range", "准确性", "info", 100, Params{Column: "codes_issued", Min: n(0)}),
		r("TRC_OFF_PLATFORM_CODES", "未上追溯平台的企业没有赋码", "trace", "custom_condition", "一致性", "warning", 99,
			Params{Condition: "NOT on_platform AND codes_issued > 0"}),
		r("EBK_PRODUCER_USCC_VALID", "生产企业信用代码校验", "ebike", "uscc", "规范性", "warning", 99, Params{Column: "producer_uscc"}),
		r("EBK_OWNER_ID_VALID", "所有人身份证明号码校验", "ebike", "idcard", "规范性", "warning", 99, Params{Column: "owner_id_no"}),
		r("EBK_CCC_NOT_EMPTY", "CCC 证书编号不为空", "ebike", "not_empty", "完整性", "warning", 99, Params{Column: "ccc_cert_no"}),
		r("EBK_REG_NOT_FUTURE", "登记日期不晚于今天", "ebike", "not_future", "准确性", "warning", 100, Params{Column: "registration_date"}),
		r("EBK_MANUFACTURE_ORDER", "出厂日期不晚于登记日期", "ebike", "date_order", "一致性", "warning", 99,
			Params{Columns: []string{"manufacture_date", "registration_date"}}),
		r("RES_COUNT_RANGE", "资源数据量不为负", "resource", "range", "准确性", "info", 100, Params{Column: "record_count", Min: n(0)}),
		r("RES_COUNT_NOT_NULL", "资源数据量不为空", "resource", "not_null", "完整性", "warning", 99, Params{Column: "record_count"}),
		r("API_LATENCY_RANGE", "接口耗时在 0–10 分钟之间", "apicall", "range", "准确性", "info", 99.9, Params{Column: "latency_ms", Min: n(0), Max: n(600000)}),
		r("API_LATENCY_NOT_NULL", "接口调用耗时不为空", "apicall", "not_null", "完整性", "info", 99.9, Params{Column: "latency_ms"}),
		r("API_CALLED_NOT_FUTURE", "调用时间不晚于当前", "apicall", "not_future", "准确性", "warning", 100, Params{Column: "called_at"}),
		r("API_FRESHNESS", "接口调用日志 24 小时内有更新", "apicall", "freshness", "时效性", "warning", 100, Params{Hours: 24}),

		// 专题库数据集：投诉举报、特种设备、食品经营许可、舆情信息
		r("CMP_SUBJECT_USCC_VALID", "被投诉主体信用代码校验", "complaint", "uscc", "规范性", "warning", 99, Params{Column: "subject_uscc"}),
		r("CMP_RECEIVED_NOT_FUTURE", "登记日期不晚于今天", "complaint", "not_future", "准确性", "warning", 100, Params{Column: "received_date"}),
		r("CMP_CLOSE_ORDER", "办结日期不早于登记日期", "complaint", "date_order", "一致性", "warning", 99, Params{Columns: []string{"received_date", "closed_date"}}),
		r("CMP_CLOSED_HAS_DATE", "已办结的投诉举报有办结日期", "complaint", "custom_condition", "完整性", "info", 95,
			Params{Condition: "status = '已办结' AND (closed_date IS NULL OR closed_date = '')"}),
		r("SE_USER_USCC_VALID", "使用单位信用代码校验", "special_equipment", "uscc", "规范性", "warning", 99, Params{Column: "user_uscc"}),
		r("SE_INSPECTION_ORDER", "下次检验日期不早于使用登记日期", "special_equipment", "date_order", "一致性", "warning", 99,
			Params{Columns: []string{"register_date", "next_inspection_date"}}),
		r("FL_HOLDER_USCC_VALID", "经营者信用代码校验", "food_licence", "uscc", "规范性", "warning", 99, Params{Column: "holder_uscc"}),
		r("FL_VALIDITY_ORDER", "有效期至不早于发证日期", "food_licence", "date_order", "一致性", "warning", 99, Params{Columns: []string{"issue_date", "expiry_date"}}),
		r("OP_PUBLISHED_NOT_FUTURE", "发布日期不晚于今天", "opinion", "not_future", "准确性", "warning", 100, Params{Column: "published_date"}),
		r("OP_HEAT_RANGE", "热度不为负", "opinion", "range", "准确性", "info", 100, Params{Column: "heat", Min: n(0)}),
	}
}

// Jobs registers the module's scheduled work: per-rule cron schedules (checked every minute)
// and a nightly run of every enabled rule without a schedule of its own.
func (m *Module) Jobs(reg func(name, title, spec string, fn jobs.Func)) {
	reg("quality.rules.scheduled", "数据质量规则按各自计划执行", "0 * * * * *", func(ctx context.Context, run *jobs.Run) error {
		n, err := m.RunDue(ctx)
		run.Add("rules", int64(n))
		return err
	})
	reg("quality.results.prune", "清理过期的数据质量不合格记录明细（保留计数）", "0 50 3 * * *", func(ctx context.Context, run *jobs.Run) error {
		n, err := m.PruneFailedRows(ctx, m.now().AddDate(0, 0, -FailedRowsRetentionDays))
		run.Add("deleted", n)
		return err
	})
	reg("quality.rules.nightly", "数据质量核查（全部未单独设置计划的规则）", "0 30 2 * * *", func(ctx context.Context, run *jobs.Run) error {
		rules, err := m.ListRules(ctx, RuleFilter{})
		if err != nil {
			return err
		}
		var ids []int64
		for _, r := range rules {
			if r.Enabled && r.Schedule == "" {
				ids = append(ids, r.ID)
			}
		}
		if len(ids) == 0 {
			return nil
		}
		res, err := m.executeScheduled(ctx, ids, nil)
		run.Add("rules", int64(res))
		return err
	})
}

// RunDue runs the rules whose own schedule is due, in one run, and advances their next run.
func (m *Module) RunDue(ctx context.Context) (int, error) {
	rules, err := m.ListRules(ctx, RuleFilter{})
	if err != nil {
		return 0, err
	}
	now := m.now().UTC()
	var due []int64
	next := map[int64]time.Time{}
	for _, r := range rules {
		if !r.Enabled || r.Schedule == "" {
			continue
		}
		if r.NextRunAt == nil {
			// A schedule set before this instance computed it: start from now.
			if n := nextRun(r.Schedule, now); n != nil {
				if _, err := m.db.Exec(ctx, `UPDATE quality_rules SET next_run_at = ? WHERE id = ? AND next_run_at IS NULL`, *n, r.ID); err != nil {
					return 0, err
				}
			}
			continue
		}
		if !r.NextRunAt.After(now) {
			due = append(due, r.ID)
			if n := nextRun(r.Schedule, now); n != nil {
				next[r.ID] = *n
			}
		}
	}
	if len(due) == 0 {
		return 0, nil
	}
	return m.executeScheduled(ctx, due, next)
}

func (m *Module) executeScheduled(ctx context.Context, ids []int64, next map[int64]time.Time) (int, error) {
	_, res, err := m.Execute(ctx, RunOptions{RuleIDs: ids, Trigger: TriggerSchedule, Actor: "system", nextRuns: next})
	if err != nil {
		return 0, err
	}
	for _, r := range res {
		if r.Status == StatusError {
			slog.WarnContext(ctx, "quality rule failed to run", "rule", r.RuleCode, "message", r.Message)
		}
	}
	return len(res), nil
}

// FailedRowsRetentionDays is how long the failed rows of a run are kept; the run's counts,
// pass rates and scores stay in the history for good.
const FailedRowsRetentionDays = 180

// PruneFailedRows deletes the failed rows of runs that started before cutoff.
func (m *Module) PruneFailedRows(ctx context.Context, cutoff time.Time) (int64, error) {
	res, err := m.db.Exec(ctx, `DELETE FROM quality_failed_rows WHERE run_id IN (SELECT id FROM quality_runs WHERE started_at < ?)`, cutoff.UTC())
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// Seeder runs every enabled rule once on the demo data, so that the demo shows results, scores
// and failing rows; it does nothing when runs exist. It is a Last seeder: it runs after every
// module has loaded its datasets (the data hub's registers and the indicator module's topic
// datasets, wired after this module).
func (m *Module) Seeder() demo.Seeder {
	return demo.Seeder{Name: "quality", Title: "首次数据质量核查", Last: true, Run: func(ctx context.Context, env *demo.Env) ([]string, error) {
		var n int
		if err := m.db.Get(ctx, &n, `SELECT COUNT(*) FROM quality_runs`); err != nil || n > 0 {
			return nil, err
		}
		run, _, err := m.Execute(ctx, RunOptions{Trigger: TriggerManual, Actor: "demo"})
		if err != nil {
			return nil, err
		}
		return []string{fmt.Sprintf("数据质量：已执行首次核查（%d 条规则，未达阈值 %d 条），见“数据治理 › 数据质量概览”。", run.RulesTotal, run.RulesFailed)}, nil
	}}
}
