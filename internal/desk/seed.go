package desk

import (
	"context"
	"fmt"

	"zhsj/internal/demo"
	"zhsj/internal/iam"
	"zhsj/internal/store"
)

// DemoArticles are the knowledge articles of the demo and training database.
var DemoArticles = []ArticleInput{
	{Title: "市场主体登记页面打开缓慢", Symptom: "登记注册页面加载超过 10 秒，偶发白屏", Cause: "数据库连接池耗尽，慢查询占用连接",
		Solution: "1. 在数据库执行慢查询分析，为 market_entity 表的统一社会信用代码列补建索引；2. 将应用连接池上限由 50 调整为 100；3. 重启应用后观察 30 分钟", Systems: "主体服务", Tags: "页面访问,数据库,慢查询", Status: "published"},
	{Title: "统一认证登录提示“票据无效”", Symptom: "从门户跳转业务系统时提示票据无效，需要重新登录", Cause: "业务系统与认证中心服务器时间不同步，票据校验超时",
		Solution: "校准各应用服务器 NTP 时间同步；确认认证中心票据有效期为 5 分钟", Systems: "统一认证", Tags: "功能异常,单点登录", Status: "published"},
	{Title: "许可备案接口调用返回 502", Symptom: "省政务服务平台推送许可数据失败，接口返回 502 Bad Gateway", Cause: "中间件 Nginx 上游超时时间过短，大批量推送时后端处理超过 60 秒",
		Solution: "将 Nginx proxy_read_timeout 调整为 300 秒，并将批量推送拆分为每批 500 条", Systems: "许可备案", Tags: "接口失败,中间件,Nginx", Status: "published"},
	{Title: "投诉举报数据统计与明细不一致", Symptom: "投诉举报看板的月度件数与明细导出条数不一致", Cause: "统计任务在数据同步完成前执行，漏计当日晚间同步的数据",
		Solution: "将统计任务调整到数据同步完成事件之后触发；对差异月份重新执行统计", Systems: "投诉举报", Tags: "数据错误,统计", Status: "published"},
	{Title: "智慧市监 APP 无法上传现场照片", Symptom: "检查人员在 APP 上传现场照片时提示网络错误", Cause: "对象存储证书过期，HTTPS 握手失败",
		Solution: "更新对象存储服务的 TLS 证书，并在监控中增加证书到期预警（提前 30 天）", Systems: "智慧市监APP", Tags: "系统报错,证书", Status: "published"},
	{Title: "数据库表空间不足导致写入失败", Symptom: "稽查办案系统保存案件时报错“表空间不足”", Cause: "归档日志未按期清理，占满磁盘",
		Solution: "清理过期归档日志，扩容数据盘，并配置归档日志自动清理策略（保留 7 天）", Systems: "稽查办案", Tags: "数据库,磁盘", Status: "published"},
	{Title: "杀毒软件误报拦截中间件进程", Symptom: "服务器安全软件将 Tomcat 进程识别为风险程序并隔离", Cause: "安全软件病毒库更新后规则误报",
		Solution: "在安全软件控制台将应用目录加入白名单，向厂商提交误报样本", Systems: "综合监管", Tags: "安全软件,中间件", Status: "published"},
	{Title: "远程监控视频无法播放", Symptom: "远程监控模块视频窗口黑屏，提示流媒体连接失败", Cause: "流媒体服务端口被防火墙策略调整后关闭",
		Solution: "与网络管理员确认防火墙策略，放通流媒体服务端口 554 与 10000-10100", Systems: "远程监控", Tags: "页面访问,网络", Status: "published"},
}

// approverRole is the demo role of the bureau's change approver.
const approverRole = "bureau_approver"

// Seed adds the desk's demo data: the bureau's approver, knowledge articles, a problem
// record, training records and a few tickets through the lifecycle. It adds only what is
// missing.
func (d *Desk) Seed(ctx context.Context, env *demo.Env) ([]string, error) {
	var out []string
	sys := iam.System()
	var n int
	if err := d.db.Get(ctx, &n, `SELECT COUNT(*) FROM roles WHERE code = ?`, approverRole); err != nil {
		return nil, err
	}
	if n == 0 {
		if _, err := env.IAM.CreateRole(ctx, nil, sys, iam.RoleInput{Code: approverRole, Name: "局方审批人",
			Description: "省局信息化负责人：审批生产变更（升级、数据修正、配置），查看运维单、知识库与工作报告", DataScope: iam.ScopeAll,
			Permissions: []string{PermApprove, PermTicketRead, PermKBRead, PermReportRead}}); err != nil {
			return nil, fmt.Errorf("局方审批人角色: %w", err)
		}
	}
	if err := d.db.Get(ctx, &n, `SELECT COUNT(*) FROM users WHERE account = 'approver'`); err != nil {
		return nil, err
	}
	if n == 0 {
		var dept int64
		_ = d.db.Get(ctx, &dept, `SELECT id FROM departments WHERE region_code = ? ORDER BY id LIMIT 1`, iam.ProvinceCode)
		must := true
		pw := env.NewPassword("approver", "刘审批")
		if _, err := env.IAM.CreateUser(ctx, nil, sys, iam.UserInput{Account: "approver", Name: "刘审批", RegionCode: iam.ProvinceCode,
			DeptID: dept, Roles: []string{approverRole}, Password: pw, MustChange: &must}); err != nil {
			return nil, fmt.Errorf("approver: %w", err)
		}
		out = append(out, fmt.Sprintf("  %-13s %-8s 一次性口令 %s  （%s）", "approver", "刘审批", pw, "局方审批人：审批生产变更，不同意的请求不得擅自处理"))
	}
	if err := d.db.Get(ctx, &n, `SELECT COUNT(*) FROM desk_articles`); err != nil {
		return nil, err
	}
	if n == 0 {
		for _, a := range DemoArticles {
			if _, err := d.SaveArticle(ctx, nil, sys, 0, a); err != nil {
				return nil, err
			}
		}
		out = append(out, fmt.Sprintf("  服务台：知识 %d 条", len(DemoArticles)))
	}
	if err := d.db.Get(ctx, &n, `SELECT COUNT(*) FROM desk_trainings`); err != nil {
		return nil, err
	}
	if n == 0 {
		now := d.Now().In(shanghai())
		for i, t := range []TrainingInput{
			{Title: "智慧市监平台业务操作培训", Audience: "operator", Mode: "offline", Location: "省局三楼会议室", Trainer: "陈运维", Materials: "《智慧市监操作手册》、演示环境", Planned: 40, Attendees: 36},
			{Title: "系统运行维护与常见故障排查", Audience: "admin", Mode: "online", Location: "线上会议", Trainer: "陈运维", Materials: "《运维手册》、故障案例集", Planned: 12, Attendees: 12},
		} {
			t.HeldAt = now.AddDate(0, 0, -7*(i+1)).Format("2006-01-02") + " 14:30"
			if _, err := d.SaveTraining(ctx, nil, sys, 0, t); err != nil {
				return nil, err
			}
		}
	}
	if err := d.db.Get(ctx, &n, `SELECT COUNT(*) FROM desk_tickets`); err != nil {
		return nil, err
	}
	if n > 0 {
		return out, nil
	}
	var engineer int64
	_ = d.db.Get(ctx, &engineer, `SELECT id FROM users WHERE account = 'engineer'`)
	count := map[demo.Scale]int{demo.Small: 12, demo.Medium: 200, demo.Large: 2000}[env.Scale]
	if count == 0 {
		count = 12
	}
	systems := []string{"主体服务", "许可备案", "综合监管", "投诉举报", "稽查办案", "智慧市监APP", "统一认证", "数据资产"}
	for i := 0; i < count; i++ {
		in := TicketInput{Title: fmt.Sprintf("%s：%s（演示 %d）", systems[i%len(systems)], []string{"页面打开缓慢", "接口调用失败", "统计数据不一致", "无法登录", "上传附件失败"}[i%5], i+1),
			Description: "演示数据：用户电话反映问题，已记录现象。", Source: []string{"web", "mobile", "api"}[i%3], System: systems[i%len(systems)],
			Category: Categories[i%len(Categories)], Reporter: "演示用户", ReporterUnit: "演示单位", RegionCode: iam.ProvinceCode}
		t, err := d.CreateTicket(ctx, nil, sys, in)
		if err != nil {
			return nil, err
		}
		steps := []TransitionInput{
			{Action: ActRegister},
			{Action: ActGrade, Impact: 1 + i%4, Urgency: 1 + (i/2)%4},
			{Action: ActRespond, AssigneeID: engineer, Note: "已安排工程师处理，将电话反馈处理进度"},
			{Action: ActInvestigate},
			{Action: ActHandle, Note: "已定位问题并实施修复"},
			{Action: ActResolve, Cause: "应用配置参数不当导致", Method: "调整配置参数并重启服务"},
			{Action: ActClose, VerifyResult: "用户确认恢复正常"},
		}
		for _, st := range steps[:i%len(steps)+1] {
			if st.Action == ActRespond && engineer == 0 {
				break
			}
			if _, err := d.Transition(ctx, nil, sys, t.ID, st); err != nil {
				return nil, fmt.Errorf("演示运维单 %s %s: %w", t.No, st.Action, err)
			}
		}
	}
	if err := d.db.InTx(ctx, func(tx *store.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO desk_problems(title, description, system, category, status, root_cause, known_error, workaround, author, created_at, updated_at)
			VALUES ('主体服务高峰期页面缓慢', '每月初申报高峰期多次出现页面缓慢', '主体服务', '页面访问', 'known_error', '连接池上限偏低',
			'高峰期并发超过连接池上限时请求排队', '临时调高连接池上限并限制导出类操作', '系统', ?, ?)`, d.Now(), d.Now())
		return err
	}); err != nil {
		return nil, err
	}
	out = append(out, fmt.Sprintf("  服务台：运维单 %d 个（各流转阶段）、问题记录 1 条、培训记录 2 条", count))
	return out, nil
}
