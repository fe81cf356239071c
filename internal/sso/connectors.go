package sso

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/sso/connector"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

const purposeConnectorSecret = "sso.connector_secret"

// Binding rules: how an unknown partner user is matched to a local account.
const (
	RuleAccount  = "account"  // same account name, automatically
	RulePhone    = "phone"    // same mobile number (blind index), automatically
	RuleIDNo     = "id_no"    // same citizen ID number (身份证号, blind index), automatically
	RuleApproval = "approval" // an administrator approves each binding
)

var ruleNames = map[string]string{RuleAccount: "账号相同自动绑定", RulePhone: "手机号相同自动绑定", RuleIDNo: "身份证号相同自动绑定", RuleApproval: "管理员审核绑定"}

// ConnectorRow is one partner platform's configuration.
type ConnectorRow struct {
	ID             string    `db:"id" json:"id"`
	Name           string    `db:"name" json:"name"`
	Kind           string    `db:"kind" json:"kind"`
	RegionCode     string    `db:"region_code" json:"region_code"`
	RegionName     string    `db:"region_name" json:"region_name"`
	Enabled        bool      `db:"enabled" json:"enabled"`
	ConfigRaw      string    `db:"config" json:"-"`
	SecretEnc      []byte    `db:"secret_enc" json:"-"`
	BindingRule    string    `db:"binding_rule" json:"binding_rule"`
	OutboundURL    string    `db:"outbound_url" json:"outbound_url"`
	OutboundClient string    `db:"outbound_client" json:"outbound_client"`
	Sort           int       `db:"sort" json:"sort"`
	CreatedAt      time.Time `db:"created_at" json:"created_at"`
	UpdatedAt      time.Time `db:"updated_at" json:"updated_at"`

	Config    json.RawMessage `db:"-" json:"config"`
	HasSecret bool            `db:"-" json:"has_secret"`
	KindName  string          `db:"-" json:"kind_name"`
	RuleName  string          `db:"-" json:"binding_rule_name"`
}

func (c *ConnectorRow) fill() {
	c.Config = json.RawMessage(c.ConfigRaw)
	if len(c.Config) == 0 {
		c.Config = json.RawMessage("{}")
	}
	c.HasSecret, c.KindName, c.RuleName = len(c.SecretEnc) > 0, connector.KindNames[c.Kind], ruleNames[c.BindingRule]
}

// ConfigText is the configuration indented for the edit form.
func (c *ConnectorRow) ConfigText() string {
	var b bytes.Buffer
	if json.Indent(&b, c.Config, "", "  ") != nil {
		return string(c.Config)
	}
	return b.String()
}

// ConnectorInput creates or changes a connector. Secret nil keeps the stored one.
type ConnectorInput struct {
	ID             string          `json:"id"`
	Name           string          `json:"name"`
	Kind           string          `json:"kind"`
	RegionCode     string          `json:"region_code"`
	Enabled        *bool           `json:"enabled"`
	Config         json.RawMessage `json:"config"`
	Secret         *string         `json:"secret"`
	BindingRule    string          `json:"binding_rule"`
	OutboundURL    string          `json:"outbound_url"`
	OutboundClient string          `json:"outbound_client"`
	Sort           *int            `json:"sort"`
}

// defaultConnectors are the partner platforms every installation knows: the province's
// enforcement platform, Xi'an's platform and the other eleven reporting units. They are
// disabled until an administrator enters the endpoints and the secret that the platform
// owner issues (their interface documents are not public); adding or enabling one is
// configuration, not code (docs/sso.md).
var defaultConnectors = []ConnectorInput{
	{ID: "shaanxi-zfjd", Name: "陕西省行政执法和执法监督一体化平台", Kind: connector.KindTicket, RegionCode: iam.ProvinceCode, BindingRule: RulePhone,
		Config: json.RawMessage(`{"authorize_url":"","validate_url":"","logout_url":"","app_id":"","sign_alg":"hmac-sm3"}`)},
	{ID: "xian", Name: "西安市一体化平台", Kind: connector.KindCAS, RegionCode: "610100", BindingRule: RulePhone,
		Config: json.RawMessage(`{"server_url":"","version":"3"}`)},
	{ID: "tongchuan", Name: "铜川市一体化平台", Kind: connector.KindTicket, RegionCode: "610200", BindingRule: RuleApproval},
	{ID: "baoji", Name: "宝鸡市一体化平台", Kind: connector.KindTicket, RegionCode: "610300", BindingRule: RuleApproval},
	{ID: "xianyang", Name: "咸阳市一体化平台", Kind: connector.KindTicket, RegionCode: "610400", BindingRule: RuleApproval},
	{ID: "weinan", Name: "渭南市一体化平台", Kind: connector.KindTicket, RegionCode: "610500", BindingRule: RuleApproval},
	{ID: "yanan", Name: "延安市一体化平台", Kind: connector.KindTicket, RegionCode: "610600", BindingRule: RuleApproval},
	{ID: "hanzhong", Name: "汉中市一体化平台", Kind: connector.KindTicket, RegionCode: "610700", BindingRule: RuleApproval},
	{ID: "yulin", Name: "榆林市一体化平台", Kind: connector.KindTicket, RegionCode: "610800", BindingRule: RuleApproval},
	{ID: "ankang", Name: "安康市一体化平台", Kind: connector.KindTicket, RegionCode: "610900", BindingRule: RuleApproval},
	{ID: "shangluo", Name: "商洛市一体化平台", Kind: connector.KindTicket, RegionCode: "611000", BindingRule: RuleApproval},
	{ID: "yangling", Name: "杨凌示范区一体化平台", Kind: connector.KindTicket, RegionCode: "610403", BindingRule: RuleApproval},
	{ID: "hancheng", Name: "韩城市一体化平台", Kind: connector.KindTicket, RegionCode: "610581", BindingRule: RuleApproval},
}

// ensureConnectors inserts the default entries that are missing (never overwriting a change).
func (s *Service) ensureConnectors(ctx context.Context) error {
	return s.db.InTx(ctx, func(tx *store.Tx) error {
		now := s.now()
		for i, c := range defaultConnectors {
			cfg := string(c.Config)
			if cfg == "" {
				cfg = `{}`
			}
			if _, err := tx.Exec(ctx, `INSERT INTO sso_connectors (id, name, kind, region_code, enabled, config, binding_rule, sort, created_at, updated_at)
				VALUES (?, ?, ?, ?, FALSE, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`, c.ID, c.Name, c.Kind, c.RegionCode, cfg, c.BindingRule, (i+1)*10, now, now); err != nil {
				return err
			}
		}
		return nil
	})
}

const connectorSelect = `SELECT c.id, c.name, c.kind, c.region_code, COALESCE(r.name, c.region_code) AS region_name, c.enabled, c.config, c.secret_enc,
	c.binding_rule, c.outbound_url, c.outbound_client, c.sort, c.created_at, c.updated_at
	FROM sso_connectors c LEFT JOIN regions r ON r.code = c.region_code`

// ListConnectors returns the connectors within the caller's jurisdiction.
func (s *Service) ListConnectors(ctx context.Context, p *iam.Principal) ([]ConnectorRow, error) {
	where, args := p.Filter(iam.Cols{Region: "c.region_code"})
	var out []ConnectorRow
	if err := s.db.Select(ctx, &out, connectorSelect+` WHERE `+where+` ORDER BY c.sort, c.id`, args...); err != nil {
		return nil, err
	}
	for i := range out {
		out[i].fill()
	}
	return out, nil
}

// GetConnector returns one connector within the caller's jurisdiction (p nil: any).
func (s *Service) GetConnector(ctx context.Context, p *iam.Principal, id string) (*ConnectorRow, error) {
	q, args := connectorSelect+` WHERE c.id = ?`, []any{id}
	if p != nil {
		where, a := p.Filter(iam.Cols{Region: "c.region_code"})
		q += ` AND ` + where
		args = append(args, a...)
	}
	var c ConnectorRow
	err := s.db.Get(ctx, &c, q, args...)
	if errors.Is(err, store.ErrNotFound) {
		return nil, web.ErrNotFound
	}
	if err != nil {
		return nil, err
	}
	c.fill()
	return &c, nil
}

var connectorIDRE = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{1,39}$`)

func (s *Service) validateConnector(ctx context.Context, p *iam.Principal, in *ConnectorInput, old *ConnectorRow) error {
	f := map[string]string{}
	in.Name = strings.TrimSpace(in.Name)
	if old == nil && !connectorIDRE.MatchString(in.ID) {
		f["id"] = "连接编号须为 2–40 位小写字母、数字或短横线（用于地址）"
	}
	if in.Name == "" {
		f["name"] = "请填写平台名称"
	}
	if _, ok := connector.KindNames[in.Kind]; !ok {
		f["kind"] = "类型须为 oidc、oauth2、cas 或 ticket"
	}
	if _, ok := ruleNames[in.BindingRule]; !ok {
		f["binding_rule"] = "绑定规则须为 account、phone、id_no 或 approval"
	}
	if in.RegionCode == "" {
		in.RegionCode = p.Region
	}
	if rp, err := iam.RegionPath(ctx, s.db, in.RegionCode); err != nil || !p.WithinJurisdiction(rp) {
		f["region_code"] = "区划不存在或不在您的辖区内"
	}
	if len(in.Config) == 0 {
		in.Config = json.RawMessage("{}")
	}
	if !json.Valid(in.Config) {
		f["config"] = "配置不是有效的 JSON"
	}
	if in.OutboundURL != "" && !checkURL(in.OutboundURL, true) {
		f["outbound_url"] = "跳转地址须以 http:// 或 https:// 开头"
	}
	if in.OutboundClient != "" {
		c, err := s.activeClient(ctx, ProtoTicket, in.OutboundClient)
		switch {
		case err != nil:
			f["outbound_client"] = "票据交换应用 " + in.OutboundClient + " 未登记或已停用"
		case !serviceMatches(c.ServicePrefix, in.OutboundURL):
			f["outbound_client"] = "跳转地址不在该票据交换应用登记的地址范围内"
		}
	}
	if len(f) > 0 {
		return connectorErr(f)
	}
	if in.Enabled != nil && *in.Enabled {
		if err := connector.Validate(in.Kind, in.Config); err != nil {
			return connectorErr(map[string]string{"config": "启用前须完成配置：" + err.Error()})
		}
		hasSecret := (old != nil && len(old.SecretEnc) > 0 && in.Secret == nil) || (in.Secret != nil && *in.Secret != "")
		if in.Kind == connector.KindTicket && !hasSecret {
			return connectorErr(map[string]string{"secret": "启用票据交换连接前须填写合作平台分配的密钥"})
		}
	} else if err := connector.Validate(in.Kind, in.Config); err != nil && strings.Contains(err.Error(), "JSON") {
		return connectorErr(map[string]string{"config": err.Error()})
	}
	return nil
}

func connectorErr(f map[string]string) error {
	var parts []string
	for _, k := range []string{"id", "name", "kind", "region_code", "binding_rule", "config", "secret", "outbound_url", "outbound_client"} {
		if v, ok := f[k]; ok {
			parts = append(parts, v)
		}
	}
	e := web.Errorf(http.StatusBadRequest, "invalid_input", "%s", strings.Join(parts, "；"))
	e.Fields = f
	return e
}

// SaveConnector creates (old == nil) or updates a connector; the secret is sealed.
func (s *Service) SaveConnector(ctx context.Context, r *http.Request, p *iam.Principal, in ConnectorInput) (*ConnectorRow, error) {
	old, err := s.GetConnector(ctx, p, in.ID)
	if err != nil && !errors.Is(err, web.ErrNotFound) {
		return nil, err
	}
	if old != nil {
		in.ID = old.ID
		if in.Name == "" {
			in.Name = old.Name
		}
		if in.Kind == "" {
			in.Kind = old.Kind
		}
		if in.BindingRule == "" {
			in.BindingRule = old.BindingRule
		}
		if in.RegionCode == "" {
			in.RegionCode = old.RegionCode
		}
		if in.Enabled == nil {
			in.Enabled = &old.Enabled
		}
		if len(in.Config) == 0 {
			in.Config = old.Config
		}
		if in.Sort == nil {
			in.Sort = &old.Sort
		}
	}
	if in.Enabled == nil {
		f := false
		in.Enabled = &f
	}
	if err := s.validateConnector(ctx, p, &in, old); err != nil {
		return nil, err
	}
	var compact bytes.Buffer
	json.Compact(&compact, in.Config)
	var secret []byte
	keep := in.Secret == nil
	if !keep && *in.Secret != "" {
		if secret, err = s.keys.Seal(purposeConnectorSecret, []byte(*in.Secret)); err != nil {
			return nil, err
		}
	}
	sort := 1000
	if in.Sort != nil {
		sort = *in.Sort
	}
	err = s.db.InTx(ctx, func(tx *store.Tx) error {
		now := s.now()
		state := "停用"
		if *in.Enabled {
			state = "启用"
		}
		if old == nil {
			if _, err := tx.Exec(ctx, `INSERT INTO sso_connectors (id, name, kind, region_code, enabled, config, secret_enc, binding_rule, outbound_url, outbound_client, sort, created_at, updated_at)
				VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`, in.ID, in.Name, in.Kind, in.RegionCode, *in.Enabled, compact.String(), secret,
				in.BindingRule, in.OutboundURL, in.OutboundClient, sort, now, now); err != nil {
				return err
			}
			return s.record(ctx, tx, r, audit.Entry{Action: "security.sso.connector.create", ObjectType: "sso_connector", ObjectID: in.ID,
				Result: "success", Detail: fmt.Sprintf("新增合作平台连接 %s（%s，%s）", in.Name, connector.KindNames[in.Kind], state), RegionCode: in.RegionCode})
		}
		set := `name = ?, kind = ?, region_code = ?, enabled = ?, config = ?, binding_rule = ?, outbound_url = ?, outbound_client = ?, sort = ?, updated_at = ?`
		args := []any{in.Name, in.Kind, in.RegionCode, *in.Enabled, compact.String(), in.BindingRule, in.OutboundURL, in.OutboundClient, sort, now}
		detail := fmt.Sprintf("修改合作平台连接 %s（%s，%s）", in.Name, connector.KindNames[in.Kind], state)
		if !keep {
			set += `, secret_enc = ?`
			args = append(args, secret)
			detail += "，更换了密钥"
		}
		if _, err := tx.Exec(ctx, `UPDATE sso_connectors SET `+set+` WHERE id = ?`, append(args, in.ID)...); err != nil {
			return err
		}
		return s.record(ctx, tx, r, audit.Entry{Action: "security.sso.connector.update", ObjectType: "sso_connector", ObjectID: in.ID,
			Result: "success", Detail: detail, RegionCode: in.RegionCode})
	})
	if err != nil {
		return nil, err
	}
	s.conns.Delete(in.ID)
	return s.GetConnector(ctx, nil, in.ID)
}

type openConnector struct {
	updated time.Time
	conn    connector.Connector
}

// connector returns the opened connector of an id (enabled only unless any), reopening it
// when its configuration changed (on any instance).
func (s *Service) connector(ctx context.Context, id string, mustBeEnabled bool) (connector.Connector, *ConnectorRow, error) {
	row, err := s.GetConnector(ctx, nil, id)
	if err != nil {
		return nil, nil, err
	}
	if mustBeEnabled && !row.Enabled {
		return nil, row, web.ErrNotFound
	}
	if v, ok := s.conns.Load(id); ok {
		oc := v.(*openConnector)
		if oc.updated.Equal(row.UpdatedAt) {
			return oc.conn, row, nil
		}
	}
	secret := ""
	if len(row.SecretEnc) > 0 {
		b, err := s.keys.Open(purposeConnectorSecret, row.SecretEnc)
		if err != nil {
			return nil, row, fmt.Errorf("连接器 %s 的密钥无法解封: %w", id, err)
		}
		secret = string(b)
	}
	conn, err := connector.Open(row.Kind, row.Config, secret, s.opt.HTTPClient)
	if err != nil {
		return nil, row, err
	}
	s.conns.Store(id, &openConnector{updated: row.UpdatedAt, conn: conn})
	return conn, row, nil
}
