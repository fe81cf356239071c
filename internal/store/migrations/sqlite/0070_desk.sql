-- +goose Up
-- Service desk (服务台): tickets under the procurement's SLAs, approval gate, knowledge base,
-- problem records, training records and archived work reports.

-- SLA calendars: 7×24 or business hours (same spans on every working weekday) with holidays
-- and make-up working days (调休上班).
CREATE TABLE desk_calendars (
    id         INTEGER PRIMARY KEY,
    name       TEXT NOT NULL UNIQUE,
    kind       TEXT NOT NULL DEFAULT '24x7',      -- 24x7 | business
    weekdays   TEXT NOT NULL DEFAULT '1,2,3,4,5', -- business: working weekdays, 0 = Sunday
    spans      TEXT NOT NULL DEFAULT '',          -- business: "09:00-12:00,13:30-17:30" (Asia/Shanghai)
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE TABLE desk_holidays (
    calendar_id INTEGER NOT NULL REFERENCES desk_calendars(id) ON DELETE CASCADE,
    day         TEXT NOT NULL,                    -- YYYY-MM-DD
    kind        TEXT NOT NULL DEFAULT 'holiday',  -- holiday | workday (调休上班)
    name        TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (calendar_id, day)
);

-- SLA targets (configurable policy); the codes are fixed because each stops on its own event.
CREATE TABLE desk_sla_targets (
    code        TEXT PRIMARY KEY,                 -- arrange | respond | measures | handle | timetable
    name        TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    grades      TEXT NOT NULL DEFAULT '',         -- grade levels it applies to, "1,2"; '' = every ticket
    minutes     INTEGER NOT NULL,
    warn_pct    INTEGER NOT NULL DEFAULT 80,
    calendar_id INTEGER NOT NULL REFERENCES desk_calendars(id),
    enabled     BOOLEAN NOT NULL DEFAULT TRUE,
    sort        INTEGER NOT NULL DEFAULT 0,
    updated_at  TIMESTAMP NOT NULL
);

-- Escalation chain: who hears about a clock at which share of its target, through which channel.
CREATE TABLE desk_escalation_steps (
    level       INTEGER PRIMARY KEY,              -- 1 运维工程师, 2 项目经理, 3 局方联系人
    name        TEXT NOT NULL,
    trigger_pct INTEGER NOT NULL,
    channel_id  INTEGER REFERENCES notify_channels(id) ON DELETE SET NULL,
    updated_at  TIMESTAMP NOT NULL
);

CREATE TABLE desk_tickets (
    id               INTEGER PRIMARY KEY,
    no               TEXT NOT NULL DEFAULT '',
    title            TEXT NOT NULL,
    description      TEXT NOT NULL DEFAULT '',
    source           TEXT NOT NULL,               -- web | mobile | api | alert | inspection
    state            TEXT NOT NULL DEFAULT 'accepted',
    resume_state     TEXT NOT NULL DEFAULT '',    -- while pending: the state to return to
    pending_reason   TEXT NOT NULL DEFAULT '',
    category         TEXT NOT NULL DEFAULT '',
    system           TEXT NOT NULL DEFAULT '',
    reporter         TEXT NOT NULL DEFAULT '',
    reporter_unit    TEXT NOT NULL DEFAULT '',
    reporter_user_id INTEGER REFERENCES users(id) ON DELETE SET NULL,
    impact           INTEGER NOT NULL DEFAULT 0,
    urgency          INTEGER NOT NULL DEFAULT 0,
    grade            INTEGER NOT NULL DEFAULT 0,  -- 0 not graded, 1 特别重大, 2 重大, 3 较大, 4 一般
    change_kind      TEXT NOT NULL DEFAULT '',    -- '' | upgrade | data_fix | config
    approval         TEXT NOT NULL DEFAULT '',    -- '' | pending | approved | refused
    assignee_id      INTEGER REFERENCES users(id) ON DELETE SET NULL,
    assignee_name    TEXT NOT NULL DEFAULT '',
    cause            TEXT NOT NULL DEFAULT '',
    method           TEXT NOT NULL DEFAULT '',
    verify_result    TEXT NOT NULL DEFAULT '',
    close_code       TEXT NOT NULL DEFAULT '',    -- resolved | refused
    reopen_count     INTEGER NOT NULL DEFAULT 0,
    plan_due         TEXT NOT NULL DEFAULT '',    -- resolution date of the timetable
    acknowledged_at  TIMESTAMP,
    measures_at      TIMESTAMP,
    resolved_at      TIMESTAMP,
    closed_at        TIMESTAMP,
    ack_ms           BIGINT,                      -- acceptance → response, pending time excluded
    resolve_ms       BIGINT,                      -- acceptance → verification, pending time excluded
    paused_ms        BIGINT NOT NULL DEFAULT 0,
    created_month    TEXT NOT NULL,               -- YYYY-MM in Asia/Shanghai
    region_code      TEXT NOT NULL REFERENCES regions(code),
    dept_id          INTEGER REFERENCES departments(id) ON DELETE SET NULL,
    created_by       INTEGER REFERENCES users(id) ON DELETE SET NULL,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
-- List filters: each index holds the filter columns most often combined with it, so counts
-- of filtered lists are answered from the index without reading the rows.
CREATE INDEX desk_tickets_state ON desk_tickets(state, id);
CREATE INDEX desk_tickets_category ON desk_tickets(category, grade, state);
CREATE INDEX desk_tickets_grade ON desk_tickets(grade, state);
CREATE INDEX desk_tickets_system ON desk_tickets(system, state);
CREATE INDEX desk_tickets_source ON desk_tickets(source, state);
CREATE INDEX desk_tickets_month ON desk_tickets(created_month);
CREATE INDEX desk_tickets_created ON desk_tickets(created_at);
CREATE INDEX desk_tickets_region ON desk_tickets(region_code, state, category);
CREATE INDEX desk_tickets_assignee ON desk_tickets(assignee_id);
CREATE INDEX desk_tickets_no ON desk_tickets(no);
CREATE INDEX desk_tickets_title ON desk_tickets(title);

-- Title search: the bigrams and words of each ticket's title (see desk.Terms), and how many
-- tickets hold each term, so that a search probes the rarest term's tickets first.
CREATE TABLE desk_ticket_terms (
    term      TEXT NOT NULL,
    ticket_id INTEGER NOT NULL REFERENCES desk_tickets(id) ON DELETE CASCADE,
    PRIMARY KEY (term, ticket_id)
) WITHOUT ROWID;
CREATE INDEX desk_ticket_terms_ticket ON desk_ticket_terms(ticket_id);
CREATE TABLE desk_ticket_term_df (
    term TEXT PRIMARY KEY,
    n    INTEGER NOT NULL
) WITHOUT ROWID;

-- Every lifecycle step: who, when, what, with which fields.
CREATE TABLE desk_transitions (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES desk_tickets(id) ON DELETE CASCADE,
    action     TEXT NOT NULL,
    from_state TEXT NOT NULL DEFAULT '',
    to_state   TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    fields     TEXT NOT NULL DEFAULT '{}',
    actor_id   INTEGER,
    actor      TEXT NOT NULL,
    at         TIMESTAMP NOT NULL
);
CREATE INDEX desk_transitions_ticket ON desk_transitions(ticket_id, id);

-- Intervals during which a ticket's clocks do not run (挂起, and the time spent in
-- verification before a reopen).
CREATE TABLE desk_pauses (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES desk_tickets(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL DEFAULT 'pending',   -- pending | verifying
    reason     TEXT NOT NULL DEFAULT '',
    started_at TIMESTAMP NOT NULL,
    ended_at   TIMESTAMP
);
CREATE INDEX desk_pauses_ticket ON desk_pauses(ticket_id);

CREATE TABLE desk_sla_clocks (
    id              INTEGER PRIMARY KEY,
    ticket_id       INTEGER NOT NULL REFERENCES desk_tickets(id) ON DELETE CASCADE,
    target          TEXT NOT NULL,
    minutes         INTEGER NOT NULL,             -- the policy when the clock started
    warn_pct        INTEGER NOT NULL,
    calendar_id     INTEGER NOT NULL REFERENCES desk_calendars(id),
    status          TEXT NOT NULL DEFAULT 'running', -- running | paused | stopped | cancelled
    started_at      TIMESTAMP NOT NULL,
    stopped_at      TIMESTAMP,
    elapsed_ms      BIGINT NOT NULL DEFAULT 0,    -- at the last evaluation or at the stop
    due_at          TIMESTAMP,
    next_check_at   TIMESTAMP,
    warned_at       TIMESTAMP,
    breached_at     TIMESTAMP,
    escalated_level INTEGER NOT NULL DEFAULT 0,
    explanation     TEXT NOT NULL DEFAULT '',
    explained_by    TEXT NOT NULL DEFAULT '',
    explained_at    TIMESTAMP,
    UNIQUE (ticket_id, target)
);
CREATE INDEX desk_sla_clocks_due ON desk_sla_clocks(status, next_check_at);
CREATE INDEX desk_sla_clocks_breached ON desk_sla_clocks(breached_at);

CREATE TABLE desk_escalations (
    id          INTEGER PRIMARY KEY,
    clock_id    INTEGER NOT NULL REFERENCES desk_sla_clocks(id) ON DELETE CASCADE,
    ticket_id   INTEGER NOT NULL REFERENCES desk_tickets(id) ON DELETE CASCADE,
    level       INTEGER NOT NULL,
    name        TEXT NOT NULL,
    pct         INTEGER NOT NULL,
    channel_id  INTEGER REFERENCES notify_channels(id) ON DELETE SET NULL,
    delivery_id INTEGER REFERENCES notify_deliveries(id) ON DELETE SET NULL,
    note        TEXT NOT NULL DEFAULT '',
    at          TIMESTAMP NOT NULL,
    UNIQUE (clock_id, level)
);
CREATE INDEX desk_escalations_ticket ON desk_escalations(ticket_id);

-- Links from tickets to alerts, alert groups and inspection findings.
CREATE TABLE desk_ticket_links (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES desk_tickets(id) ON DELETE CASCADE,
    kind       TEXT NOT NULL,                     -- alert | alert_group | finding
    ref        TEXT NOT NULL,
    note       TEXT NOT NULL DEFAULT '',
    created_at TIMESTAMP NOT NULL,
    UNIQUE (kind, ref, ticket_id)
);
CREATE INDEX desk_ticket_links_ticket ON desk_ticket_links(ticket_id);

-- Alerts the desk has heard of through monitor.alert.* events (idempotency and report counts).
CREATE TABLE desk_alerts (
    alert       TEXT PRIMARY KEY,
    grp         TEXT NOT NULL DEFAULT '',
    severity    TEXT NOT NULL DEFAULT '',
    system      TEXT NOT NULL DEFAULT '',
    ticket_id   INTEGER REFERENCES desk_tickets(id) ON DELETE SET NULL,
    fired_at    TIMESTAMP NOT NULL,
    resolved_at TIMESTAMP
);
CREATE INDEX desk_alerts_ticket ON desk_alerts(ticket_id);
CREATE INDEX desk_alerts_fired ON desk_alerts(fired_at);

-- Resolution timetable (解决时间表) of tickets not solvable within 24 hours.
CREATE TABLE desk_plans (
    id         INTEGER PRIMARY KEY,
    ticket_id  INTEGER NOT NULL REFERENCES desk_tickets(id) ON DELETE CASCADE,
    step       TEXT NOT NULL,
    due_date   TEXT NOT NULL,                     -- YYYY-MM-DD
    done       BOOLEAN NOT NULL DEFAULT FALSE,
    created_by TEXT NOT NULL,
    created_at TIMESTAMP NOT NULL
);
CREATE INDEX desk_plans_ticket ON desk_plans(ticket_id);

-- The bureau's approval of production changes.
CREATE TABLE desk_approvals (
    id             INTEGER PRIMARY KEY,
    ticket_id      INTEGER NOT NULL REFERENCES desk_tickets(id) ON DELETE CASCADE,
    change_kind    TEXT NOT NULL,
    reason         TEXT NOT NULL,
    requested_by   INTEGER,
    requested_name TEXT NOT NULL,
    requested_at   TIMESTAMP NOT NULL,
    status         TEXT NOT NULL DEFAULT 'pending', -- pending | approved | refused
    decided_by     INTEGER,
    decided_name   TEXT NOT NULL DEFAULT '',
    decided_at     TIMESTAMP,
    comment        TEXT NOT NULL DEFAULT ''
);
CREATE INDEX desk_approvals_ticket ON desk_approvals(ticket_id, id);
CREATE INDEX desk_approvals_status ON desk_approvals(status, id);

-- Knowledge base.
CREATE TABLE desk_articles (
    id               INTEGER PRIMARY KEY,
    title            TEXT NOT NULL,
    symptom          TEXT NOT NULL DEFAULT '',
    cause            TEXT NOT NULL DEFAULT '',
    solution         TEXT NOT NULL DEFAULT '',
    systems          TEXT NOT NULL DEFAULT '',    -- comma-separated
    tags             TEXT NOT NULL DEFAULT '',    -- comma-separated
    status           TEXT NOT NULL DEFAULT 'draft', -- draft | published
    source_ticket_id INTEGER REFERENCES desk_tickets(id) ON DELETE SET NULL,
    author           TEXT NOT NULL DEFAULT '',
    created_by       INTEGER,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL
);
CREATE INDEX desk_articles_status ON desk_articles(status, id);
CREATE UNIQUE INDEX desk_articles_source ON desk_articles(source_ticket_id) WHERE source_ticket_id IS NOT NULL;
CREATE TABLE desk_article_tickets (
    article_id INTEGER NOT NULL REFERENCES desk_articles(id) ON DELETE CASCADE,
    ticket_id  INTEGER NOT NULL REFERENCES desk_tickets(id) ON DELETE CASCADE,
    PRIMARY KEY (article_id, ticket_id)
);
CREATE INDEX desk_article_tickets_ticket ON desk_article_tickets(ticket_id);
-- Search index: Chinese bigrams and lower-cased Latin words/numbers, with a field weight.
CREATE TABLE desk_kb_terms (
    term       TEXT NOT NULL,
    article_id INTEGER NOT NULL REFERENCES desk_articles(id) ON DELETE CASCADE,
    weight     INTEGER NOT NULL,
    PRIMARY KEY (term, article_id)
) WITHOUT ROWID;
CREATE INDEX desk_kb_terms_article ON desk_kb_terms(article_id);

-- Problem records (问题集): recurring incidents, known errors and workarounds.
CREATE TABLE desk_problems (
    id          INTEGER PRIMARY KEY,
    title       TEXT NOT NULL,
    description TEXT NOT NULL DEFAULT '',
    system      TEXT NOT NULL DEFAULT '',
    category    TEXT NOT NULL DEFAULT '',
    status      TEXT NOT NULL DEFAULT 'open',     -- open | known_error | resolved | closed
    root_cause  TEXT NOT NULL DEFAULT '',
    known_error TEXT NOT NULL DEFAULT '',
    workaround  TEXT NOT NULL DEFAULT '',
    author      TEXT NOT NULL DEFAULT '',
    created_by  INTEGER,
    created_at  TIMESTAMP NOT NULL,
    updated_at  TIMESTAMP NOT NULL
);
CREATE TABLE desk_problem_tickets (
    problem_id INTEGER NOT NULL REFERENCES desk_problems(id) ON DELETE CASCADE,
    ticket_id  INTEGER NOT NULL REFERENCES desk_tickets(id) ON DELETE CASCADE,
    PRIMARY KEY (problem_id, ticket_id)
);
CREATE INDEX desk_problem_tickets_ticket ON desk_problem_tickets(ticket_id);

-- Training records (培训服务).
CREATE TABLE desk_trainings (
    id         INTEGER PRIMARY KEY,
    title      TEXT NOT NULL,
    held_at    TIMESTAMP NOT NULL,
    audience   TEXT NOT NULL,                     -- operator | admin
    mode       TEXT NOT NULL DEFAULT 'offline',   -- offline | online
    location   TEXT NOT NULL DEFAULT '',
    trainer    TEXT NOT NULL DEFAULT '',
    materials  TEXT NOT NULL DEFAULT '',
    planned    INTEGER NOT NULL DEFAULT 0,
    attendees  INTEGER NOT NULL DEFAULT 0,
    notes      TEXT NOT NULL DEFAULT '',
    author     TEXT NOT NULL DEFAULT '',
    created_by INTEGER,
    created_at TIMESTAMP NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
CREATE INDEX desk_trainings_held ON desk_trainings(held_at);

-- Archived work reports: every generation is kept as a new version.
CREATE TABLE desk_reports (
    id           INTEGER PRIMARY KEY,
    kind         TEXT NOT NULL,                   -- monthly | annual
    period       TEXT NOT NULL,                   -- 2026-03 | 2026
    version      INTEGER NOT NULL,
    region_code  TEXT NOT NULL REFERENCES regions(code),
    title        TEXT NOT NULL,
    data         TEXT NOT NULL,                   -- JSON of the numbers
    html         TEXT NOT NULL,                   -- printable document
    xlsx         BLOB NOT NULL,
    trigger      TEXT NOT NULL,                   -- schedule | manual
    generated_by TEXT NOT NULL,
    created_at   TIMESTAMP NOT NULL,
    UNIQUE (kind, period, region_code, version)
);

INSERT INTO desk_calendars(id, name, kind, weekdays, spans, created_at, updated_at)
VALUES (1, '7×24 小时', '24x7', '0,1,2,3,4,5,6', '', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP),
       (2, '工作日工作时间', 'business', '1,2,3,4,5', '09:00-12:00,13:30-17:30', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP);
INSERT INTO desk_sla_targets(code, name, description, grades, minutes, warn_pct, calendar_id, enabled, sort, updated_at) VALUES
 ('arrange', '安排并反馈', '每个运维单 1 小时内做出安排（指派并确认）并反馈给用户', '', 60, 80, 1, TRUE, 1, CURRENT_TIMESTAMP),
 ('respond', '重大事件响应', '重大、特别重大事件 30 分钟内响应', '1,2', 30, 80, 1, TRUE, 2, CURRENT_TIMESTAMP),
 ('measures', '重大事件采取措施', '重大、特别重大事件 24 小时内采取相应措施', '1,2', 1440, 80, 1, TRUE, 3, CURRENT_TIMESTAMP),
 ('handle', '一般事件处理', '一般事件每一笔处理时间不超过 30 分钟', '4', 30, 80, 1, TRUE, 4, CURRENT_TIMESTAMP),
 ('timetable', '解决时间表', '无法在 24 小时内解决的，须在 24 小时内提供解决时间表', '', 1440, 80, 1, TRUE, 5, CURRENT_TIMESTAMP);
INSERT INTO desk_escalation_steps(level, name, trigger_pct, channel_id, updated_at) VALUES
 (1, '运维工程师', 80, NULL, CURRENT_TIMESTAMP),
 (2, '项目经理', 100, NULL, CURRENT_TIMESTAMP),
 (3, '局方联系人', 150, NULL, CURRENT_TIMESTAMP);

-- +goose Down
DROP TABLE desk_reports;
DROP TABLE desk_trainings;
DROP TABLE desk_problem_tickets;
DROP TABLE desk_problems;
DROP TABLE desk_kb_terms;
DROP TABLE desk_article_tickets;
DROP TABLE desk_articles;
DROP TABLE desk_approvals;
DROP TABLE desk_plans;
DROP TABLE desk_alerts;
DROP TABLE desk_ticket_links;
DROP TABLE desk_escalations;
DROP TABLE desk_sla_clocks;
DROP TABLE desk_pauses;
DROP TABLE desk_transitions;
DROP TABLE desk_ticket_term_df;
DROP TABLE desk_ticket_terms;
DROP TABLE desk_tickets;
DROP TABLE desk_escalation_steps;
DROP TABLE desk_sla_targets;
DROP TABLE desk_holidays;
DROP TABLE desk_calendars;
