package dataset

import (
	_ "embed"
	"encoding/json"
	"fmt"
)

// Common vocabularies.
var (
	entStatus = Field{Name: "status", TitleZh: "登记状态", Type: TypeEnum, Aliases: []string{"经营状态", "企业状态", "状态", "主体状态"},
		Enum: []string{"存续", "在业", "吊销", "注销", "迁出", "撤销"},
		Synonyms: map[string]string{"在营": "存续", "存续（在营、开业、在册）": "存续", "开业": "在业", "在册": "存续", "正常": "存续",
			"吊销，未注销": "吊销", "吊销未注销": "吊销", "已注销": "注销", "已吊销": "吊销", "已迁出": "迁出", "已撤销": "撤销"}}
	planLevel = Field{Name: "plan_level", TitleZh: "计划级别", Type: TypeEnum, Required: true, Aliases: []string{"抽查级别", "任务级别", "计划层级", "抽检级别"},
		Enum: []string{"国", "省", "市", "县"},
		Synonyms: map[string]string{"国家": "国", "国家级": "国", "国抽": "国", "国家监督抽查": "国", "省级": "省", "省抽": "省", "省级监督抽查": "省",
			"市级": "市", "市抽": "市", "地市": "市", "县级": "县", "县抽": "县", "区县": "县", "县区": "县"}}
)

// regionField is the region column every dataset has; source titles cover codes and names.
func regionField(required bool, def string) Field {
	return Field{Name: ColRegion, TitleZh: "行政区划代码", Type: TypeRegion, Required: required, Strict: true, Default: def,
		Aliases: []string{"区划代码", "所属区域", "所属区划", "所属地区", "区域", "地区", "行政区划", "所在地区", "所属行政区划", "区县", "管辖区域", "登记机关区划"}}
}

//go:embed fields/ebike.json
var ebikeExtraJSON []byte

// extraFields reads data-driven field definitions: adding a field to the JSON file (and
// rebuilding) is enough to ingest, validate, show and check it; no migration, no code.
func extraFields(name string, b []byte) []Field {
	var fs []Field
	if err := json.Unmarshal(b, &fs); err != nil {
		panic(fmt.Sprintf("dataset %s: extra field definitions: %v", name, err))
	}
	for i := range fs {
		fs[i].Extra = true
		if fs[i].Type.Sealed() {
			panic(fmt.Sprintf("dataset %s: extra field %s cannot be sealed (personal fields need their own columns)", name, fs[i].Name))
		}
	}
	return fs
}

func init() {
	register(&Dataset{
		Name: "enterprise", TitleZh: "市场主体", Table: "ds_enterprise", Key: []string{"uscc"},
		Description: "市场主体登记信息：统一社会信用代码、名称、类型、法定代表人、注册资本、成立日期、住所、登记状态等",
		PeriodField: "establish_date", NameField: "name",
		ListFields:   []string{"uscc", "name", "ent_type", "legal_rep", "establish_date", "region_code", "status"},
		FilterFields: []string{"status", "ent_type", "is_industrial"},
		regionFrom:   []string{"uscc"},
		Fields: []Field{
			{Name: "uscc", TitleZh: "统一社会信用代码", Type: TypeUSCC, Aliases: []string{"信用代码", "社会信用代码", "统一社会信用代码/注册号", "注册号", "统一代码", "credit_code", "reg_no"}},
			{Name: "name", TitleZh: "企业名称", Type: TypeText, Required: true, MaxLen: 200, Aliases: []string{"主体名称", "名称", "市场主体名称", "单位名称", "企业（机构）名称"}},
			{Name: "ent_type", TitleZh: "主体类型", Type: TypeCode, CodeTable: "ent_type", Aliases: []string{"企业类型", "市场主体类型", "类型", "企业类型代码"}},
			{Name: "industry_code", TitleZh: "行业代码", Type: TypeIndustry, Aliases: []string{"国民经济行业代码", "所属行业代码", "行业门类代码", "行业"}},
			{Name: "legal_rep", TitleZh: "法定代表人", Type: TypeText, MaxLen: 100, Aliases: []string{"法定代表人（负责人）", "负责人", "经营者", "执行事务合伙人", "法人代表", "法定代表人姓名"}},
			{Name: "legal_rep_id_no", TitleZh: "法定代表人证件号码", Type: TypeIDNo, Aliases: []string{"法定代表人身份证号", "法定代表人身份证号码", "证件号码", "身份证号码", "法人身份证号"}},
			{Name: "reg_capital", TitleZh: "注册资本", Type: TypeDecimal, Unit: "万元", Aliases: []string{"注册资本（万元）", "注册资本(万元)", "出资额", "注册资金", "资金数额"}},
			{Name: "currency", TitleZh: "币种", Type: TypeText, MaxLen: 20, Default: "人民币", Aliases: []string{"注册资本币种", "货币种类"}},
			{Name: "establish_date", TitleZh: "成立日期", Type: TypeDate, NotFuture: true, Aliases: []string{"注册日期", "成立时间", "登记日期", "开业日期"}},
			{Name: "approval_date", TitleZh: "核准日期", Type: TypeDate, Aliases: []string{"核准时间", "最近核准日期"}},
			{Name: "cancel_date", TitleZh: "注销/吊销日期", Type: TypeDate, Aliases: []string{"注销日期", "吊销日期", "注吊销日期"}},
			{Name: "address", TitleZh: "住所", Type: TypeText, MaxLen: 300, Aliases: []string{"住所（经营场所）", "经营场所", "地址", "注册地址", "住所地址", "经营地址"}},
			regionField(true, ""),
			entStatus,
			{Name: "reg_authority", TitleZh: "登记机关", Type: TypeText, MaxLen: 100, Aliases: []string{"登记机关名称", "发照机关"}},
			{Name: "is_industrial", TitleZh: "工业产品生产企业", Type: TypeBool, Aliases: []string{"是否工业产品生产企业", "工业产品企业"}},
			{Name: "quality_manager_count", TitleZh: "质量安全管理人员数", Type: TypeInt, Aliases: []string{"质量安全员人数", "质量管理人员数", "质量安全总监及安全员人数"}},
			{Name: "business_scope", TitleZh: "经营范围", Type: TypeText, MaxLen: 20000, Aliases: []string{"许可经营项目", "一般经营项目"}},
		},
	})

	register(&Dataset{
		Name: "licence", TitleZh: "工业产品生产许可证", Table: "ds_licence", Key: []string{"licence_no"},
		Description: "工业产品生产许可证：证书编号、持证企业、产品类别、发证与有效期、证书状态、发证机关",
		PeriodField: "issue_date", NameField: "holder_name",
		ListFields:   []string{"licence_no", "holder_name", "product_category", "issue_date", "expiry_date", "region_code", "status"},
		FilterFields: []string{"status", "product_category"},
		regionFrom:   []string{"holder_uscc"},
		Fields: []Field{
			{Name: "licence_no", TitleZh: "证书编号", Type: TypeLicence, Aliases: []string{"许可证编号", "生产许可证编号", "许可证号", "证书号"}},
			{Name: "holder_uscc", TitleZh: "企业统一社会信用代码", Type: TypeUSCC, Required: true, Aliases: []string{"统一社会信用代码", "持证企业信用代码", "信用代码", "企业信用代码"}},
			{Name: "holder_name", TitleZh: "企业名称", Type: TypeText, Required: true, MaxLen: 200, Aliases: []string{"持证企业", "持证企业名称", "生产企业名称", "企业"}},
			{Name: "product_category", TitleZh: "产品类别", Type: TypeCode, CodeTable: "licence_category", Required: true, Aliases: []string{"产品类别名称", "许可产品类别", "产品单元", "类别"}},
			{Name: "product_name", TitleZh: "产品名称", Type: TypeText, MaxLen: 500, Aliases: []string{"产品明细", "许可范围", "产品"}},
			{Name: "issue_date", TitleZh: "发证日期", Type: TypeDate, Required: true, NotFuture: true, Aliases: []string{"发证时间", "批准日期"}},
			{Name: "expiry_date", TitleZh: "有效期至", Type: TypeDate, Aliases: []string{"有效期截止日期", "有效期截至", "截止日期", "到期日期"}},
			{Name: "status", TitleZh: "证书状态", Type: TypeEnum, Aliases: []string{"状态", "许可证状态"},
				Enum:     []string{"有效", "注销", "撤销", "吊销", "过期"},
				Synonyms: map[string]string{"正常": "有效", "在有效期内": "有效", "已注销": "注销", "已撤销": "撤销", "已吊销": "吊销", "已过期": "过期", "失效": "过期"}},
			{Name: "issuing_authority", TitleZh: "发证机关", Type: TypeText, MaxLen: 100, Aliases: []string{"发证单位", "审批机关"}},
			{Name: "address", TitleZh: "生产地址", Type: TypeText, MaxLen: 300, Aliases: []string{"生产地址（住所）", "住所", "地址"}},
			regionField(true, ""),
		},
	})

	register(&Dataset{
		Name: "sampling", TitleZh: "监督抽查", Table: "ds_sampling", Key: []string{"batch_no"},
		Description: "产品质量监督抽查：抽样批次、计划级别、产品及其大类、生产企业、抽样日期、结论、不合格项目与后处理",
		PeriodField: "sampling_date", NameField: "product_name",
		ListFields:   []string{"batch_no", "plan_level", "product_name", "category_code", "producer_name", "sampling_date", "region_code", "result", "followup_status"},
		FilterFields: []string{"plan_level", "category_code", "result", "stage", "followup_status"},
		regionFrom:   []string{"producer_uscc"},
		Fields: []Field{
			{Name: "batch_no", TitleZh: "抽样单编号", Type: TypeText, MaxLen: 64, Aliases: []string{"批次编号", "抽样编号", "抽样单号", "样品编号", "报告编号"}},
			planLevel,
			{Name: "plan_name", TitleZh: "计划名称", Type: TypeText, MaxLen: 200, Aliases: []string{"任务名称", "抽查计划", "抽查任务"}},
			{Name: "product_name", TitleZh: "产品名称", Type: TypeText, Required: true, MaxLen: 200, Aliases: []string{"样品名称", "抽查产品", "产品种类"}},
			{Name: "category_code", TitleZh: "产品大类", Type: TypeCode, CodeTable: "sampling_category", Aliases: []string{"所属大类", "产品类别", "八大类", "大类"}},
			{Name: "producer_uscc", TitleZh: "生产企业统一社会信用代码", Type: TypeUSCC, Aliases: []string{"受检单位统一社会信用代码", "生产企业信用代码", "统一社会信用代码", "信用代码"}},
			{Name: "producer_name", TitleZh: "生产企业名称", Type: TypeText, MaxLen: 200, Aliases: []string{"受检单位", "受检单位名称", "生产企业", "标称生产企业"}},
			{Name: "stage", TitleZh: "抽样环节", Type: TypeEnum, Aliases: []string{"抽样领域", "环节", "领域"},
				Enum: []string{"生产", "流通", "电商"}, Synonyms: map[string]string{"生产领域": "生产", "生产环节": "生产", "流通领域": "流通", "销售": "流通", "流通环节": "流通", "电子商务": "电商", "网络": "电商", "电商平台": "电商", "网购": "电商"}},
			{Name: "sampling_date", TitleZh: "抽样日期", Type: TypeDate, Required: true, NotFuture: true, Aliases: []string{"抽样时间", "抽检日期"}},
			regionField(true, ""),
			{Name: "result", TitleZh: "检验结论", Type: TypeEnum, Required: true, Aliases: []string{"抽查结果", "结论", "检验结果", "判定结论"},
				Enum: []string{"合格", "不合格"}, Synonyms: map[string]string{"符合": "合格", "不符合": "不合格", "所检项目合格": "合格", "经抽样检验，所检项目合格": "合格"}},
			{Name: "failed_items", TitleZh: "不合格项目", Type: TypeText, MaxLen: 1000, Aliases: []string{"不合格项目名称", "主要不合格项目"}},
			{Name: "followup_status", TitleZh: "后处理状态", Type: TypeEnum, Aliases: []string{"处置状态", "后处理", "跟踪处置状态"},
				Enum: []string{"核查处置", "责令整改", "复查", "立案", "已办结"}, Synonyms: map[string]string{"核查": "核查处置", "整改": "责令整改", "复查中": "复查", "已立案": "立案", "办结": "已办结", "完成": "已办结"}},
			{Name: "disposal_date", TitleZh: "核查处置日期", Type: TypeDate, Aliases: []string{"核查日期", "处置日期"}},
			{Name: "rectify_date", TitleZh: "责令整改日期", Type: TypeDate, Aliases: []string{"整改通知日期", "责令整改时间"}},
			{Name: "recheck_date", TitleZh: "复查日期", Type: TypeDate, Aliases: []string{"复查时间"}},
			{Name: "case_date", TitleZh: "立案日期", Type: TypeDate, Aliases: []string{"立案时间"}},
		},
		derive: deriveSamplingCategory,
	})

	register(&Dataset{
		Name: "supervision", TitleZh: "监督检查", Table: "ds_supervision", Key: []string{"record_no"},
		Description: "监督检查：专项计划、检查记录、发现问题、责令整改、复查与立案",
		PeriodField: "inspect_date", NameField: "target_name",
		ListFields:   []string{"record_no", "plan_name", "inspect_type", "target_name", "inspect_date", "region_code", "result"},
		FilterFields: []string{"inspect_type", "result", "reinspect_result", "case_filed"},
		regionFrom:   []string{"target_uscc"},
		Fields: []Field{
			{Name: "record_no", TitleZh: "检查记录编号", Type: TypeText, MaxLen: 64, Aliases: []string{"记录编号", "检查编号", "检查单编号"}},
			{Name: "plan_name", TitleZh: "检查计划", Type: TypeText, MaxLen: 200, Aliases: []string{"专项计划", "计划名称", "专项名称", "任务名称"}},
			{Name: "inspect_type", TitleZh: "检查类型", Type: TypeEnum, Aliases: []string{"检查方式", "类型"},
				Enum: []string{"专项检查", "双随机抽查", "日常检查", "投诉举报核查"}, Synonyms: map[string]string{"专项": "专项检查", "双随机": "双随机抽查", "双随机、一公开": "双随机抽查", "日常": "日常检查", "举报核查": "投诉举报核查", "投诉举报": "投诉举报核查"}},
			{Name: "target_uscc", TitleZh: "检查对象统一社会信用代码", Type: TypeUSCC, Aliases: []string{"统一社会信用代码", "检查对象信用代码", "信用代码"}},
			{Name: "target_name", TitleZh: "检查对象", Type: TypeText, Required: true, MaxLen: 200, Aliases: []string{"检查对象名称", "被检查单位", "企业名称"}},
			{Name: "inspect_date", TitleZh: "检查日期", Type: TypeDate, Required: true, NotFuture: true, Aliases: []string{"检查时间"}},
			{Name: "inspect_org", TitleZh: "检查机关", Type: TypeText, MaxLen: 100, Aliases: []string{"检查单位", "实施机关"}},
			regionField(true, ""),
			{Name: "result", TitleZh: "检查结果", Type: TypeEnum, Required: true, Aliases: []string{"检查结论", "结论"},
				Enum: []string{"未发现问题", "发现问题"}, Synonyms: map[string]string{"合格": "未发现问题", "正常": "未发现问题", "未发现": "未发现问题", "无问题": "未发现问题", "不合格": "发现问题", "存在问题": "发现问题", "有问题": "发现问题"}},
			{Name: "findings", TitleZh: "发现问题", Type: TypeText, MaxLen: 2000, Aliases: []string{"问题描述", "检查发现", "存在问题描述"}},
			{Name: "rectify_order_no", TitleZh: "责令整改通知书编号", Type: TypeText, MaxLen: 64, Aliases: []string{"整改通知书编号", "责令改正通知书编号"}},
			{Name: "rectify_deadline", TitleZh: "整改期限", Type: TypeDate, Aliases: []string{"整改截止日期", "限期整改日期"}},
			{Name: "reinspect_date", TitleZh: "复查日期", Type: TypeDate, Aliases: []string{"复查时间"}},
			{Name: "reinspect_result", TitleZh: "复查结论", Type: TypeEnum, Aliases: []string{"复查结果"},
				Enum: []string{"已整改", "未整改"}, Synonyms: map[string]string{"整改到位": "已整改", "已完成整改": "已整改", "未按期整改": "未整改", "整改不到位": "未整改"}},
			{Name: "case_filed", TitleZh: "是否立案", Type: TypeBool, Aliases: []string{"立案"}},
			{Name: "case_no", TitleZh: "案件编号", Type: TypeText, MaxLen: 64, Aliases: []string{"立案编号", "案号"}},
		},
	})

	register(&Dataset{
		Name: "trace", TitleZh: "产品追溯", Table: "ds_trace", Key: []string{"uscc", "product_name"},
		Description: "追溯平台接入：企业与产品是否上平台、追溯码赋码与扫码数量、平台状态报告",
		PeriodField: "report_date", NameField: "enterprise_name",
		ListFields:   []string{"uscc", "enterprise_name", "product_name", "on_platform", "codes_issued", "codes_scanned", "report_date", "region_code", "status"},
		FilterFields: []string{"on_platform", "status", "category_code"},
		regionFrom:   []string{"uscc"},
		Fields: []Field{
			{Name: "uscc", TitleZh: "统一社会信用代码", Type: TypeUSCC, Aliases: []string{"企业统一社会信用代码", "信用代码"}},
			{Name: "enterprise_name", TitleZh: "企业名称", Type: TypeText, Required: true, MaxLen: 200, Aliases: []string{"企业", "生产企业", "主体名称"}},
			{Name: "product_name", TitleZh: "产品名称", Type: TypeText, MaxLen: 200, Aliases: []string{"追溯产品", "产品"}},
			{Name: "category_code", TitleZh: "产品大类", Type: TypeCode, CodeTable: "sampling_category", Aliases: []string{"产品类别", "所属大类"}},
			{Name: "platform_name", TitleZh: "追溯平台", Type: TypeText, MaxLen: 100, Aliases: []string{"平台名称", "接入平台"}},
			{Name: "on_platform", TitleZh: "是否上平台", Type: TypeBool, Required: true, Aliases: []string{"已接入", "是否接入", "上平台"}},
			{Name: "joined_date", TitleZh: "接入日期", Type: TypeDate, NotFuture: true, Aliases: []string{"上平台日期", "接入时间"}},
			{Name: "codes_issued", TitleZh: "赋码数量", Type: TypeInt, Aliases: []string{"追溯码发放数量", "发码量", "赋码量"}},
			{Name: "codes_scanned", TitleZh: "扫码次数", Type: TypeInt, Aliases: []string{"扫码量", "查询次数"}},
			{Name: "report_date", TitleZh: "报告日期", Type: TypeDate, Required: true, NotFuture: true, Aliases: []string{"统计日期", "上报日期"}},
			{Name: "status", TitleZh: "平台状态", Type: TypeEnum, Aliases: []string{"状态", "接入状态"},
				Enum: []string{"正常", "停用", "未接入"}, Synonyms: map[string]string{"在用": "正常", "运行": "正常", "暂停": "停用", "已停用": "停用", "未上平台": "未接入"}},
			regionField(true, ""),
		},
		derive: deriveTraceCategory,
	})

	register(&Dataset{
		Name: "ebike", TitleZh: "电动自行车登记", Table: "ds_ebike", Key: []string{"frame_no"},
		Description: "电动自行车登记备案：整车编码、品牌型号、CCC 证书、生产企业、登记日期与状态（字段可按数据定义扩展）",
		PeriodField: "registration_date", NameField: "brand",
		ListFields:   []string{"frame_no", "brand", "model", "ccc_cert_no", "producer_name", "registration_date", "region_code", "status"},
		FilterFields: []string{"status"},
		regionFrom:   []string{"producer_uscc"},
		Fields: append([]Field{
			{Name: "frame_no", TitleZh: "整车编码", Type: TypeText, MaxLen: 64, Aliases: []string{"车架号", "整车编号", "车辆识别代号"}},
			{Name: "brand", TitleZh: "品牌", Type: TypeText, Required: true, MaxLen: 100, Aliases: []string{"中文品牌", "商标"}},
			{Name: "model", TitleZh: "型号", Type: TypeText, MaxLen: 100, Aliases: []string{"车辆型号", "产品型号"}},
			{Name: "ccc_cert_no", TitleZh: "CCC证书编号", Type: TypeText, MaxLen: 64, Aliases: []string{"CCC 证书编号", "3C证书编号", "强制性产品认证证书编号", "ccc证书号"}},
			{Name: "producer_uscc", TitleZh: "生产企业统一社会信用代码", Type: TypeUSCC, Aliases: []string{"生产企业信用代码", "统一社会信用代码"}},
			{Name: "producer_name", TitleZh: "生产企业", Type: TypeText, MaxLen: 200, Aliases: []string{"生产企业名称", "制造商"}},
			{Name: "registration_date", TitleZh: "登记日期", Type: TypeDate, Required: true, NotFuture: true, Aliases: []string{"备案日期", "登记时间"}},
			{Name: "status", TitleZh: "状态", Type: TypeEnum, Aliases: []string{"车辆状态", "登记状态"},
				Enum: []string{"正常", "注销", "被盗抢", "报废"}, Synonyms: map[string]string{"已注销": "注销", "盗抢": "被盗抢", "被盗": "被盗抢", "已报废": "报废"}},
			{Name: "owner_id_no", TitleZh: "所有人身份证明号码", Type: TypeIDNo, Aliases: []string{"身份证明号码", "所有人身份证号", "车主身份证号"}},
			{Name: "owner_phone", TitleZh: "联系电话", Type: TypeMobile, Aliases: []string{"所有人联系电话", "手机号码", "车主电话"}},
			regionField(true, ""),
		}, extraFields("ebike", ebikeExtraJSON)...),
	})

	register(&Dataset{
		Name: "resource", TitleZh: "数据资源目录", Table: "ds_resource", Key: []string{"resource_code"},
		Description: "数据资产：数据资源目录（名称、所属系统、类型、数据量、更新周期、共享属性）",
		PeriodField: "last_updated", NameField: "name",
		ListFields:   []string{"resource_code", "name", "owner_system", "resource_type", "record_count", "update_cycle", "last_updated"},
		FilterFields: []string{"resource_type", "update_cycle", "shared"},
		Fields: []Field{
			{Name: "resource_code", TitleZh: "资源编码", Type: TypeText, MaxLen: 64, Aliases: []string{"资源代码", "目录编码", "资源编号"}},
			{Name: "name", TitleZh: "资源名称", Type: TypeText, Required: true, MaxLen: 200, Aliases: []string{"目录名称", "数据资源名称"}},
			{Name: "owner_system", TitleZh: "所属系统", Type: TypeText, Required: true, MaxLen: 100, Aliases: []string{"来源系统", "业务系统"}},
			{Name: "owner_dept", TitleZh: "提供部门", Type: TypeText, MaxLen: 100, Aliases: []string{"责任部门", "数据提供方"}},
			{Name: "resource_type", TitleZh: "资源类型", Type: TypeEnum, Aliases: []string{"类型", "共享方式"},
				Enum: []string{"库表", "接口", "文件"}, Synonyms: map[string]string{"数据库表": "库表", "表": "库表", "API": "接口", "api": "接口", "服务接口": "接口", "文件夹": "文件"}},
			{Name: "record_count", TitleZh: "数据量", Type: TypeInt, Aliases: []string{"记录数", "数据条数"}},
			{Name: "update_cycle", TitleZh: "更新周期", Type: TypeEnum, Aliases: []string{"更新频率"},
				Enum: []string{"实时", "每日", "每周", "每月", "每季", "每年", "不定期"}, Synonyms: map[string]string{"日": "每日", "天": "每日", "周": "每周", "月": "每月", "季度": "每季", "年": "每年"}},
			{Name: "shared", TitleZh: "是否共享", Type: TypeBool, Aliases: []string{"共享"}},
			{Name: "last_updated", TitleZh: "最近更新日期", Type: TypeDate, Aliases: []string{"更新日期", "最后更新日期"}},
			regionField(false, "610000"),
		},
	})

	register(&Dataset{
		Name: "apicall", TitleZh: "接口调用日志", Table: "ds_apicall", Key: []string{"call_id"},
		Description: "数据资产：共享交换接口调用日志（调用系统、接口、时间、是否成功、耗时）",
		PeriodField: "call_date", NameField: "interface_name",
		ListFields:   []string{"call_id", "system", "interface_name", "called_at", "success", "latency_ms"},
		FilterFields: []string{"success"},
		Fields: []Field{
			{Name: "call_id", TitleZh: "调用流水号", Type: TypeText, MaxLen: 64, Aliases: []string{"流水号", "请求编号", "调用编号", "request_id"}},
			{Name: "system", TitleZh: "调用系统", Type: TypeText, Required: true, MaxLen: 100, Aliases: []string{"调用方", "请求系统", "应用名称"}},
			{Name: "interface_name", TitleZh: "接口名称", Type: TypeText, Required: true, MaxLen: 200, Aliases: []string{"接口", "服务名称", "API名称"}},
			{Name: "called_at", TitleZh: "调用时间", Type: TypeDateTime, Required: true, NotFuture: true, Aliases: []string{"请求时间", "时间"}},
			{Name: "call_date", TitleZh: "调用日期", Type: TypeDate, Derived: true},
			{Name: "success", TitleZh: "是否成功", Type: TypeBool, Required: true, Aliases: []string{"调用结果", "成功", "结果"}},
			{Name: "latency_ms", TitleZh: "耗时（毫秒）", Type: TypeInt, Aliases: []string{"耗时", "响应时间", "耗时(ms)"}},
			{Name: "status_code", TitleZh: "状态码", Type: TypeInt, Aliases: []string{"返回码", "HTTP状态码"}},
			regionField(false, "610000"),
		},
		derive: deriveCallDate,
	})
}
