-- +goose Up
-- Market-supervision datasets (internal/dataset registry). Natural key unique; region_code is the
-- current GB/T 2260 code and the data-scope column; dates are YYYY-MM-DD text; personal fields are
-- sealed (_enc), searchable by blind index (_idx) and shown masked (_mask).

-- 市场主体 enterprise
CREATE TABLE ds_enterprise (
    id                INTEGER PRIMARY KEY,
    uscc              TEXT NOT NULL, -- 统一社会信用代码
    name              TEXT, -- 企业名称
    ent_type          TEXT, -- 主体类型
    industry_code     TEXT, -- 行业代码
    legal_rep         TEXT, -- 法定代表人
    legal_rep_id_no_enc BLOB, -- 法定代表人证件号码（SM4-GCM 密文）
    legal_rep_id_no_idx TEXT, -- 盲索引 HMAC-SM3
    legal_rep_id_no_mask TEXT, -- 脱敏显示
    legal_rep_id_no_issue TEXT, -- 校验问题代码，有效时为空
    reg_capital       TEXT, -- 注册资本（万元，十进制文本）
    currency          TEXT, -- 币种
    establish_date    TEXT, -- 成立日期 YYYY-MM-DD
    approval_date     TEXT, -- 核准日期 YYYY-MM-DD
    cancel_date       TEXT, -- 注销/吊销日期 YYYY-MM-DD
    address           TEXT, -- 住所
    region_code       TEXT NOT NULL, -- 行政区划代码
    status            TEXT, -- 登记状态
    reg_authority     TEXT, -- 登记机关
    is_industrial     BOOLEAN, -- 工业产品生产企业
    quality_manager_count INTEGER, -- 质量安全管理人员数
    business_scope    TEXT, -- 经营范围
    source            TEXT NOT NULL DEFAULT '', -- 来源
    row_hash          TEXT NOT NULL, -- 规范化值的哈希
    first_seen_at     TIMESTAMP NOT NULL,
    last_updated_at   TIMESTAMP NOT NULL,
    last_run_id       INTEGER
);
CREATE UNIQUE INDEX ds_enterprise_key ON ds_enterprise(uscc);
CREATE INDEX ds_enterprise_region ON ds_enterprise(region_code);
CREATE INDEX ds_enterprise_period ON ds_enterprise(establish_date, region_code);
CREATE INDEX ds_enterprise_status ON ds_enterprise(status, region_code);
CREATE INDEX ds_enterprise_ent_type ON ds_enterprise(ent_type, region_code);
CREATE INDEX ds_enterprise_is_industrial ON ds_enterprise(is_industrial, region_code);
CREATE INDEX ds_enterprise_updated ON ds_enterprise(last_updated_at);

-- 工业产品生产许可证 licence
CREATE TABLE ds_licence (
    id                INTEGER PRIMARY KEY,
    licence_no        TEXT NOT NULL, -- 证书编号
    holder_uscc       TEXT, -- 企业统一社会信用代码
    holder_name       TEXT, -- 企业名称
    product_category  TEXT, -- 产品类别
    product_name      TEXT, -- 产品名称
    issue_date        TEXT, -- 发证日期 YYYY-MM-DD
    expiry_date       TEXT, -- 有效期至 YYYY-MM-DD
    status            TEXT, -- 证书状态
    issuing_authority TEXT, -- 发证机关
    address           TEXT, -- 生产地址
    region_code       TEXT NOT NULL, -- 行政区划代码
    source            TEXT NOT NULL DEFAULT '', -- 来源
    row_hash          TEXT NOT NULL, -- 规范化值的哈希
    first_seen_at     TIMESTAMP NOT NULL,
    last_updated_at   TIMESTAMP NOT NULL,
    last_run_id       INTEGER
);
CREATE UNIQUE INDEX ds_licence_key ON ds_licence(licence_no);
CREATE INDEX ds_licence_region ON ds_licence(region_code);
CREATE INDEX ds_licence_period ON ds_licence(issue_date, region_code);
CREATE INDEX ds_licence_status ON ds_licence(status, region_code);
CREATE INDEX ds_licence_product_category ON ds_licence(product_category, region_code);
CREATE INDEX ds_licence_updated ON ds_licence(last_updated_at);

-- 监督抽查 sampling
CREATE TABLE ds_sampling (
    id                INTEGER PRIMARY KEY,
    batch_no          TEXT NOT NULL, -- 抽样单编号
    plan_level        TEXT, -- 计划级别
    plan_name         TEXT, -- 计划名称
    product_name      TEXT, -- 产品名称
    category_code     TEXT, -- 产品大类
    producer_uscc     TEXT, -- 生产企业统一社会信用代码
    producer_name     TEXT, -- 生产企业名称
    stage             TEXT, -- 抽样环节
    sampling_date     TEXT, -- 抽样日期 YYYY-MM-DD
    region_code       TEXT NOT NULL, -- 行政区划代码
    result            TEXT, -- 检验结论
    failed_items      TEXT, -- 不合格项目
    followup_status   TEXT, -- 后处理状态
    disposal_date     TEXT, -- 核查处置日期 YYYY-MM-DD
    rectify_date      TEXT, -- 责令整改日期 YYYY-MM-DD
    recheck_date      TEXT, -- 复查日期 YYYY-MM-DD
    case_date         TEXT, -- 立案日期 YYYY-MM-DD
    source            TEXT NOT NULL DEFAULT '', -- 来源
    row_hash          TEXT NOT NULL, -- 规范化值的哈希
    first_seen_at     TIMESTAMP NOT NULL,
    last_updated_at   TIMESTAMP NOT NULL,
    last_run_id       INTEGER
);
CREATE UNIQUE INDEX ds_sampling_key ON ds_sampling(batch_no);
CREATE INDEX ds_sampling_region ON ds_sampling(region_code);
CREATE INDEX ds_sampling_period ON ds_sampling(sampling_date, region_code);
CREATE INDEX ds_sampling_plan_level ON ds_sampling(plan_level, region_code);
CREATE INDEX ds_sampling_category_code ON ds_sampling(category_code, region_code);
CREATE INDEX ds_sampling_result ON ds_sampling(result, region_code);
CREATE INDEX ds_sampling_stage ON ds_sampling(stage, region_code);
CREATE INDEX ds_sampling_followup_status ON ds_sampling(followup_status, region_code);
CREATE INDEX ds_sampling_updated ON ds_sampling(last_updated_at);

-- 监督检查 supervision
CREATE TABLE ds_supervision (
    id                INTEGER PRIMARY KEY,
    record_no         TEXT NOT NULL, -- 检查记录编号
    plan_name         TEXT, -- 检查计划
    inspect_type      TEXT, -- 检查类型
    target_uscc       TEXT, -- 检查对象统一社会信用代码
    target_name       TEXT, -- 检查对象
    inspect_date      TEXT, -- 检查日期 YYYY-MM-DD
    inspect_org       TEXT, -- 检查机关
    region_code       TEXT NOT NULL, -- 行政区划代码
    result            TEXT, -- 检查结果
    findings          TEXT, -- 发现问题
    rectify_order_no  TEXT, -- 责令整改通知书编号
    rectify_deadline  TEXT, -- 整改期限 YYYY-MM-DD
    reinspect_date    TEXT, -- 复查日期 YYYY-MM-DD
    reinspect_result  TEXT, -- 复查结论
    case_filed        BOOLEAN, -- 是否立案
    case_no           TEXT, -- 案件编号
    source            TEXT NOT NULL DEFAULT '', -- 来源
    row_hash          TEXT NOT NULL, -- 规范化值的哈希
    first_seen_at     TIMESTAMP NOT NULL,
    last_updated_at   TIMESTAMP NOT NULL,
    last_run_id       INTEGER
);
CREATE UNIQUE INDEX ds_supervision_key ON ds_supervision(record_no);
CREATE INDEX ds_supervision_region ON ds_supervision(region_code);
CREATE INDEX ds_supervision_period ON ds_supervision(inspect_date, region_code);
CREATE INDEX ds_supervision_inspect_type ON ds_supervision(inspect_type, region_code);
CREATE INDEX ds_supervision_result ON ds_supervision(result, region_code);
CREATE INDEX ds_supervision_reinspect_result ON ds_supervision(reinspect_result, region_code);
CREATE INDEX ds_supervision_case_filed ON ds_supervision(case_filed, region_code);
CREATE INDEX ds_supervision_updated ON ds_supervision(last_updated_at);

-- 产品追溯 trace
CREATE TABLE ds_trace (
    id                INTEGER PRIMARY KEY,
    uscc              TEXT NOT NULL, -- 统一社会信用代码
    enterprise_name   TEXT, -- 企业名称
    product_name      TEXT NOT NULL, -- 产品名称
    category_code     TEXT, -- 产品大类
    platform_name     TEXT, -- 追溯平台
    on_platform       BOOLEAN, -- 是否上平台
    joined_date       TEXT, -- 接入日期 YYYY-MM-DD
    codes_issued      INTEGER, -- 赋码数量
    codes_scanned     INTEGER, -- 扫码次数
    report_date       TEXT, -- 报告日期 YYYY-MM-DD
    status            TEXT, -- 平台状态
    region_code       TEXT NOT NULL, -- 行政区划代码
    source            TEXT NOT NULL DEFAULT '', -- 来源
    row_hash          TEXT NOT NULL, -- 规范化值的哈希
    first_seen_at     TIMESTAMP NOT NULL,
    last_updated_at   TIMESTAMP NOT NULL,
    last_run_id       INTEGER
);
CREATE UNIQUE INDEX ds_trace_key ON ds_trace(uscc, product_name);
CREATE INDEX ds_trace_region ON ds_trace(region_code);
CREATE INDEX ds_trace_period ON ds_trace(report_date, region_code);
CREATE INDEX ds_trace_on_platform ON ds_trace(on_platform, region_code);
CREATE INDEX ds_trace_status ON ds_trace(status, region_code);
CREATE INDEX ds_trace_category_code ON ds_trace(category_code, region_code);
CREATE INDEX ds_trace_updated ON ds_trace(last_updated_at);

-- 电动自行车登记 ebike
CREATE TABLE ds_ebike (
    id                INTEGER PRIMARY KEY,
    frame_no          TEXT NOT NULL, -- 整车编码
    brand             TEXT, -- 品牌
    model             TEXT, -- 型号
    ccc_cert_no       TEXT, -- CCC证书编号
    producer_uscc     TEXT, -- 生产企业统一社会信用代码
    producer_name     TEXT, -- 生产企业
    registration_date TEXT, -- 登记日期 YYYY-MM-DD
    status            TEXT, -- 状态
    owner_id_no_enc   BLOB, -- 所有人身份证明号码（SM4-GCM 密文）
    owner_id_no_idx   TEXT, -- 盲索引 HMAC-SM3
    owner_id_no_mask  TEXT, -- 脱敏显示
    owner_id_no_issue TEXT, -- 校验问题代码，有效时为空
    owner_phone_enc   BLOB, -- 联系电话（SM4-GCM 密文）
    owner_phone_idx   TEXT, -- 盲索引 HMAC-SM3
    owner_phone_mask  TEXT, -- 脱敏显示
    owner_phone_issue TEXT, -- 校验问题代码，有效时为空
    region_code       TEXT NOT NULL, -- 行政区划代码
    extra             TEXT NOT NULL DEFAULT '{}', -- 数据定义扩展字段（JSON）
    source            TEXT NOT NULL DEFAULT '', -- 来源
    row_hash          TEXT NOT NULL, -- 规范化值的哈希
    first_seen_at     TIMESTAMP NOT NULL,
    last_updated_at   TIMESTAMP NOT NULL,
    last_run_id       INTEGER
);
CREATE UNIQUE INDEX ds_ebike_key ON ds_ebike(frame_no);
CREATE INDEX ds_ebike_region ON ds_ebike(region_code);
CREATE INDEX ds_ebike_period ON ds_ebike(registration_date, region_code);
CREATE INDEX ds_ebike_status ON ds_ebike(status, region_code);
CREATE INDEX ds_ebike_updated ON ds_ebike(last_updated_at);

-- 数据资源目录 resource
CREATE TABLE ds_resource (
    id                INTEGER PRIMARY KEY,
    resource_code     TEXT NOT NULL, -- 资源编码
    name              TEXT, -- 资源名称
    owner_system      TEXT, -- 所属系统
    owner_dept        TEXT, -- 提供部门
    resource_type     TEXT, -- 资源类型
    record_count      INTEGER, -- 数据量
    update_cycle      TEXT, -- 更新周期
    shared            BOOLEAN, -- 是否共享
    last_updated      TEXT, -- 最近更新日期 YYYY-MM-DD
    region_code       TEXT NOT NULL, -- 行政区划代码
    source            TEXT NOT NULL DEFAULT '', -- 来源
    row_hash          TEXT NOT NULL, -- 规范化值的哈希
    first_seen_at     TIMESTAMP NOT NULL,
    last_updated_at   TIMESTAMP NOT NULL,
    last_run_id       INTEGER
);
CREATE UNIQUE INDEX ds_resource_key ON ds_resource(resource_code);
CREATE INDEX ds_resource_region ON ds_resource(region_code);
CREATE INDEX ds_resource_period ON ds_resource(last_updated, region_code);
CREATE INDEX ds_resource_resource_type ON ds_resource(resource_type, region_code);
CREATE INDEX ds_resource_update_cycle ON ds_resource(update_cycle, region_code);
CREATE INDEX ds_resource_shared ON ds_resource(shared, region_code);
CREATE INDEX ds_resource_updated ON ds_resource(last_updated_at);

-- 接口调用日志 apicall
CREATE TABLE ds_apicall (
    id                INTEGER PRIMARY KEY,
    call_id           TEXT NOT NULL, -- 调用流水号
    system            TEXT, -- 调用系统
    interface_name    TEXT, -- 接口名称
    called_at         TIMESTAMP, -- 调用时间
    call_date         TEXT, -- 调用日期 YYYY-MM-DD
    success           BOOLEAN, -- 是否成功
    latency_ms        INTEGER, -- 耗时（毫秒）
    status_code       INTEGER, -- 状态码
    region_code       TEXT NOT NULL, -- 行政区划代码
    source            TEXT NOT NULL DEFAULT '', -- 来源
    row_hash          TEXT NOT NULL, -- 规范化值的哈希
    first_seen_at     TIMESTAMP NOT NULL,
    last_updated_at   TIMESTAMP NOT NULL,
    last_run_id       INTEGER
);
CREATE UNIQUE INDEX ds_apicall_key ON ds_apicall(call_id);
CREATE INDEX ds_apicall_region ON ds_apicall(region_code);
CREATE INDEX ds_apicall_period ON ds_apicall(call_date, region_code);
CREATE INDEX ds_apicall_success ON ds_apicall(success, region_code);
CREATE INDEX ds_apicall_updated ON ds_apicall(last_updated_at);

-- Group-bys and joins of dashboards and quality rules.
CREATE INDEX ds_licence_holder ON ds_licence(holder_uscc);
CREATE INDEX ds_licence_expiry ON ds_licence(expiry_date, status);
CREATE INDEX ds_sampling_producer ON ds_sampling(producer_uscc);
CREATE INDEX ds_supervision_target ON ds_supervision(target_uscc);
CREATE INDEX ds_ebike_producer ON ds_ebike(producer_uscc);
CREATE INDEX ds_ebike_ccc ON ds_ebike(ccc_cert_no);
CREATE INDEX ds_ebike_owner ON ds_ebike(owner_id_no_idx);
CREATE INDEX ds_enterprise_legal_rep_id ON ds_enterprise(legal_rep_id_no_idx);
CREATE INDEX ds_apicall_system ON ds_apicall(system, call_date);
CREATE INDEX ds_resource_system ON ds_resource(owner_system);

-- +goose Down
DROP TABLE ds_apicall;
DROP TABLE ds_resource;
DROP TABLE ds_ebike;
DROP TABLE ds_trace;
DROP TABLE ds_supervision;
DROP TABLE ds_sampling;
DROP TABLE ds_licence;
DROP TABLE ds_enterprise;
