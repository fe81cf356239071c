package indicator

// Group is a theme library (主题库, one per business domain the procurement names) or a topic
// library (专题库, nine topics in three directions).
type Group struct {
	Key         string   `json:"key"`
	Library     string   `json:"library"`
	Title       string   `json:"title"`
	Direction   string   `json:"direction,omitempty"` // topics: 营商环境, 四个安全, 风险管控
	Description string   `json:"description"`
	Datasets    []string `json:"datasets"` // themes: the datasets that feed it; none = not connected
}

// Themes are the seventeen business domains of procurement §2.3.1.1, in its order. A theme
// without datasets is shown as not connected, with how to connect one.
var Themes = []Group{
	{Key: "enforcement", Title: "执法稽查", Description: "案件查办、立案与处罚情况", Datasets: []string{"supervision"}},
	{Key: "registration", Title: "登记注册", Description: "市场主体登记注册、存续与新设情况", Datasets: []string{"enterprise"}},
	{Key: "credit", Title: "信用监管", Description: "经营异常名录、严重违法失信名单、信用修复"},
	{Key: "price_competition", Title: "价格监督检查和反不正当竞争", Description: "价格与不正当竞争类投诉举报、检查与查处", Datasets: []string{"complaint"}},
	{Key: "online_trade", Title: "网络交易监管", Description: "网络交易主体、平台与网络交易投诉"},
	{Key: "advertising", Title: "广告监督管理", Description: "广告监测、违法广告查处"},
	{Key: "quality_development", Title: "质量发展", Description: "质量提升、品牌建设、质量奖"},
	{Key: "product_quality", Title: "产品质量安全监管", Description: "生产许可、监督抽查、追溯与电动自行车备案", Datasets: []string{"licence", "sampling", "trace", "ebike"}},
	{Key: "food_safety", Title: "食品安全监管", Description: "食品经营许可与食品安全监管", Datasets: []string{"food_licence"}},
	{Key: "special_equipment", Title: "特种设备安全监管", Description: "特种设备使用登记与定期检验", Datasets: []string{"special_equipment"}},
	{Key: "metrology", Title: "计量", Description: "计量器具、强制检定与计量监督"},
	{Key: "standards", Title: "标准管理", Description: "地方标准、企业标准自我声明公开"},
	{Key: "standard_innovation", Title: "标准创新", Description: "标准化试点示范与标准创新贡献"},
	{Key: "certification", Title: "认证监督", Description: "强制性产品认证（CCC）与认证机构监督"},
	{Key: "accreditation", Title: "认可与检测检验", Description: "检验检测机构资质认定与监督"},
	{Key: "ip", Title: "知识产权", Description: "商标、专利与知识产权保护"},
	{Key: "drugs", Title: "药品监管", Description: "药品、医疗器械、化妆品经营使用环节监管"},
}

// Topics are the nine topic libraries of procurement §2.3.1.2.
var Topics = []Group{
	{Key: "access", Direction: "营商环境", Title: "准入环境", Description: "市场主体准入与许可办理：新设主体、新发许可"},
	{Key: "competition", Direction: "营商环境", Title: "竞争环境", Description: "公平竞争秩序：检查发现问题、立案、价格与不正当竞争投诉"},
	{Key: "consumption", Direction: "营商环境", Title: "消费环境", Description: "消费维权：投诉举报受理、办结与挽回经济损失"},
	{Key: "food", Direction: "四个安全", Title: "食品安全", Description: "食品经营许可、食品相关产品抽查与食品类投诉"},
	{Key: "drug", Direction: "四个安全", Title: "药品安全", Description: "药品类投诉举报与舆情"},
	{Key: "equipment", Direction: "四个安全", Title: "特种设备安全", Description: "在册特种设备、超期未检与特种设备投诉"},
	{Key: "products", Direction: "四个安全", Title: "工业品和消费品安全", Description: "监督抽查合格率、不合格批次与追溯覆盖"},
	{Key: "risk", Direction: "风险管控", Title: "综合风险", Description: "不合格产品、立案、负面舆情与超期未检设备等风险信号"},
	{Key: "opinion", Direction: "风险管控", Title: "舆情热点", Description: "舆情总量、负面舆情与领域分布"},
}

func init() {
	for i := range Themes {
		Themes[i].Library = LibTheme
	}
	for i := range Topics {
		Topics[i].Library = LibTopic
	}
}

// GroupByKey returns a theme or topic.
func GroupByKey(key string) (Group, bool) {
	for _, g := range append(append([]Group(nil), Themes...), Topics...) {
		if g.Key == key {
			return g, true
		}
	}
	return Group{}, false
}

// GroupTitle returns the title of a theme or topic key.
func GroupTitle(key string) (string, bool) {
	g, ok := GroupByKey(key)
	return g.Title, ok
}
