package dataset

// The datasets the topic libraries (专题库) need besides the eight registers: complaints and
// reports, the special-equipment registry, food business licences and public-opinion items.
// They are ordinary data-hub datasets (migration 0081): file upload, push, pull, quarantine,
// quality rules and data scope work for them as for the others.
func init() {
	register(&Dataset{
		Name: "complaint", TitleZh: "投诉举报", Table: "ds_complaint", Key: []string{"complaint_no"},
		Description: "12315 投诉举报：类型、涉及领域、被投诉主体、渠道、登记与办结日期、挽回经济损失",
		PeriodField: "received_date", NameField: "subject_name",
		ListFields:   []string{"complaint_no", "kind", "domain", "subject_name", "channel", "received_date", "region_code", "status"},
		FilterFields: []string{"kind", "domain", "status", "channel"},
		Fields: []Field{
			{Name: "complaint_no", TitleZh: "登记编号", Type: TypeText},
			{Name: "kind", TitleZh: "类型", Type: TypeEnum, Enum: []string{"投诉", "举报", "咨询"}},
			{Name: "domain", TitleZh: "涉及领域", Type: TypeEnum, Enum: domains},
			{Name: "subject_uscc", TitleZh: "被投诉主体统一社会信用代码", Type: TypeUSCC},
			{Name: "subject_name", TitleZh: "被投诉主体", Type: TypeText},
			{Name: "channel", TitleZh: "来源渠道", Type: TypeEnum, Enum: []string{"12315热线", "全国12315平台", "来信来访", "其他部门转办"}},
			{Name: "received_date", TitleZh: "登记日期", Type: TypeDate, Required: true, NotFuture: true},
			{Name: "status", TitleZh: "办理状态", Type: TypeEnum, Enum: []string{"处理中", "已办结"}},
			{Name: "closed_date", TitleZh: "办结日期", Type: TypeDate},
			{Name: "recovered_amount", TitleZh: "挽回经济损失（元）", Type: TypeInt},
			{Name: "region_code", TitleZh: "行政区划代码", Type: TypeRegion},
		},
	})
	register(&Dataset{
		Name: "special_equipment", TitleZh: "特种设备", Table: "ds_special_equipment", Key: []string{"equipment_code"},
		Description: "特种设备使用登记：设备代码、种类、使用单位、登记日期、下次检验日期、设备状态",
		PeriodField: "register_date", NameField: "user_name",
		ListFields:   []string{"equipment_code", "equipment_type", "user_name", "register_date", "next_inspection_date", "region_code", "status"},
		FilterFields: []string{"equipment_type", "status"},
		Fields: []Field{
			{Name: "equipment_code", TitleZh: "设备代码", Type: TypeText},
			{Name: "equipment_type", TitleZh: "设备种类", Type: TypeEnum, Enum: []string{"锅炉", "压力容器", "电梯", "起重机械", "场（厂）内专用机动车辆", "大型游乐设施", "客运索道", "压力管道"}},
			{Name: "user_uscc", TitleZh: "使用单位统一社会信用代码", Type: TypeUSCC},
			{Name: "user_name", TitleZh: "使用单位", Type: TypeText},
			{Name: "register_date", TitleZh: "使用登记日期", Type: TypeDate, Required: true, NotFuture: true},
			{Name: "next_inspection_date", TitleZh: "下次检验日期", Type: TypeDate},
			{Name: "status", TitleZh: "设备状态", Type: TypeEnum, Enum: []string{"在用", "停用", "报废", "超期未检"}},
			{Name: "region_code", TitleZh: "行政区划代码", Type: TypeRegion},
		},
	})
	register(&Dataset{
		Name: "food_licence", TitleZh: "食品经营许可", Table: "ds_food_licence", Key: []string{"licence_no"},
		Description: "食品经营许可证：许可证编号、经营者、主体业态、发证日期、有效期与状态",
		PeriodField: "issue_date", NameField: "holder_name",
		ListFields:   []string{"licence_no", "holder_name", "business_type", "issue_date", "expiry_date", "region_code", "status"},
		FilterFields: []string{"business_type", "status"},
		Fields: []Field{
			{Name: "licence_no", TitleZh: "许可证编号", Type: TypeText},
			{Name: "holder_uscc", TitleZh: "经营者统一社会信用代码", Type: TypeUSCC},
			{Name: "holder_name", TitleZh: "经营者名称", Type: TypeText},
			{Name: "business_type", TitleZh: "主体业态", Type: TypeEnum, Enum: []string{"食品销售经营者", "餐饮服务经营者", "单位食堂"}},
			{Name: "issue_date", TitleZh: "发证日期", Type: TypeDate, Required: true, NotFuture: true},
			{Name: "expiry_date", TitleZh: "有效期至", Type: TypeDate},
			{Name: "status", TitleZh: "状态", Type: TypeEnum, Enum: []string{"有效", "注销", "撤销", "过期"}},
			{Name: "region_code", TitleZh: "行政区划代码", Type: TypeRegion},
		},
	})
	register(&Dataset{
		Name: "opinion", TitleZh: "舆情信息", Table: "ds_opinion", Key: []string{"item_id"},
		Description: "市场监管舆情：标题、媒体类型、涉及领域、情感倾向、热度、发布日期",
		PeriodField: "published_date", NameField: "title",
		ListFields:   []string{"item_id", "title", "media", "domain", "sentiment", "heat", "published_date", "region_code"},
		FilterFields: []string{"media", "domain", "sentiment"},
		Fields: []Field{
			{Name: "item_id", TitleZh: "舆情编号", Type: TypeText},
			{Name: "title", TitleZh: "标题", Type: TypeText},
			{Name: "media", TitleZh: "媒体类型", Type: TypeEnum, Enum: []string{"新闻网站", "微博", "微信", "短视频", "论坛"}},
			{Name: "domain", TitleZh: "涉及领域", Type: TypeEnum, Enum: domains},
			{Name: "sentiment", TitleZh: "情感倾向", Type: TypeEnum, Enum: []string{"正面", "中性", "负面"}},
			{Name: "heat", TitleZh: "热度", Type: TypeInt},
			{Name: "published_date", TitleZh: "发布日期", Type: TypeDate, Required: true, NotFuture: true},
			{Name: "region_code", TitleZh: "行政区划代码", Type: TypeRegion},
		},
	})
}

// domains are the business areas complaints and opinion items are classified by.
var domains = []string{"食品", "药品", "特种设备", "工业产品", "价格", "不正当竞争", "广告", "网络交易", "其他"}
