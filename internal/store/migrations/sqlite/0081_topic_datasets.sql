-- +goose Up
-- Datasets the topic libraries (专题库) need besides the data hub's eight: complaints and
-- reports, the special-equipment registry, food business licences and public-opinion items.
-- Same shape as the data hub's tables (natural key unique, region_code for data scope, dates as
-- YYYY-MM-DD text, source / row_hash / first-seen / last-updated / last run) so that they can be
-- moved into the data hub's registry unchanged. Described in internal/dataset/topics.go.

-- 投诉举报 complaint
CREATE TABLE ds_complaint (
    id                INTEGER PRIMARY KEY,
    complaint_no      TEXT NOT NULL, -- 登记编号
    kind              TEXT, -- 类型（投诉/举报/咨询）
    domain            TEXT, -- 涉及领域
    subject_uscc      TEXT, -- 被投诉主体统一社会信用代码
    subject_name      TEXT, -- 被投诉主体
    channel           TEXT, -- 来源渠道
    received_date     TEXT NOT NULL, -- 登记日期 YYYY-MM-DD
    status            TEXT, -- 办理状态（处理中/已办结）
    closed_date       TEXT, -- 办结日期 YYYY-MM-DD
    recovered_amount  INTEGER, -- 挽回经济损失（元）
    region_code       TEXT NOT NULL, -- 行政区划代码
    source            TEXT NOT NULL DEFAULT '',
    row_hash          TEXT NOT NULL,
    first_seen_at     TIMESTAMP NOT NULL,
    last_updated_at   TIMESTAMP NOT NULL,
    last_run_id       INTEGER
);
CREATE UNIQUE INDEX ds_complaint_key ON ds_complaint(complaint_no);
CREATE INDEX ds_complaint_period ON ds_complaint(received_date, region_code);
CREATE INDEX ds_complaint_region ON ds_complaint(region_code);

-- 特种设备 special_equipment
CREATE TABLE ds_special_equipment (
    id                   INTEGER PRIMARY KEY,
    equipment_code       TEXT NOT NULL, -- 设备代码
    equipment_type       TEXT, -- 设备种类
    user_uscc            TEXT, -- 使用单位统一社会信用代码
    user_name            TEXT, -- 使用单位
    register_date        TEXT NOT NULL, -- 使用登记日期 YYYY-MM-DD
    next_inspection_date TEXT, -- 下次检验日期 YYYY-MM-DD
    status               TEXT, -- 设备状态（在用/停用/报废/超期未检）
    region_code          TEXT NOT NULL,
    source               TEXT NOT NULL DEFAULT '',
    row_hash             TEXT NOT NULL,
    first_seen_at        TIMESTAMP NOT NULL,
    last_updated_at      TIMESTAMP NOT NULL,
    last_run_id          INTEGER
);
CREATE UNIQUE INDEX ds_special_equipment_key ON ds_special_equipment(equipment_code);
CREATE INDEX ds_special_equipment_period ON ds_special_equipment(register_date, region_code);
CREATE INDEX ds_special_equipment_region ON ds_special_equipment(region_code);

-- 食品经营许可 food_licence
CREATE TABLE ds_food_licence (
    id                INTEGER PRIMARY KEY,
    licence_no        TEXT NOT NULL, -- 许可证编号（JY + 14 位）
    holder_uscc       TEXT, -- 经营者统一社会信用代码
    holder_name       TEXT, -- 经营者名称
    business_type     TEXT, -- 主体业态
    issue_date        TEXT NOT NULL, -- 发证日期 YYYY-MM-DD
    expiry_date       TEXT, -- 有效期至 YYYY-MM-DD
    status            TEXT, -- 状态（有效/注销/撤销/过期）
    region_code       TEXT NOT NULL,
    source            TEXT NOT NULL DEFAULT '',
    row_hash          TEXT NOT NULL,
    first_seen_at     TIMESTAMP NOT NULL,
    last_updated_at   TIMESTAMP NOT NULL,
    last_run_id       INTEGER
);
CREATE UNIQUE INDEX ds_food_licence_key ON ds_food_licence(licence_no);
CREATE INDEX ds_food_licence_period ON ds_food_licence(issue_date, region_code);
CREATE INDEX ds_food_licence_region ON ds_food_licence(region_code);

-- 舆情信息 opinion
CREATE TABLE ds_opinion (
    id                INTEGER PRIMARY KEY,
    item_id           TEXT NOT NULL, -- 舆情编号
    title             TEXT, -- 标题
    media             TEXT, -- 媒体类型
    domain            TEXT, -- 涉及领域
    sentiment         TEXT, -- 情感倾向（正面/中性/负面）
    heat              INTEGER, -- 热度
    published_date    TEXT NOT NULL, -- 发布日期 YYYY-MM-DD
    region_code       TEXT NOT NULL,
    source            TEXT NOT NULL DEFAULT '',
    row_hash          TEXT NOT NULL,
    first_seen_at     TIMESTAMP NOT NULL,
    last_updated_at   TIMESTAMP NOT NULL,
    last_run_id       INTEGER
);
CREATE UNIQUE INDEX ds_opinion_key ON ds_opinion(item_id);
CREATE INDEX ds_opinion_period ON ds_opinion(published_date, region_code);
CREATE INDEX ds_opinion_region ON ds_opinion(region_code);

-- +goose Down
DROP TABLE ds_opinion;
DROP TABLE ds_food_licence;
DROP TABLE ds_special_equipment;
DROP TABLE ds_complaint;
