package connector

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// CASNamespace is the XML namespace of CAS protocol responses.
const CASNamespace = "http://www.yale.edu/tp/cas"

// CAS failure codes (CAS Protocol 3.0 §2.5.3).
const (
	CASInvalidRequest   = "INVALID_REQUEST"
	CASInvalidTicket    = "INVALID_TICKET"
	CASInvalidTicketSpc = "INVALID_TICKET_SPEC"
	CASInvalidService   = "INVALID_SERVICE"
	CASInternalError    = "INTERNAL_ERROR"
	CASUnauthorizedPxy  = "UNAUTHORIZED_SERVICE_PROXY"
)

// ServiceResponse is a parsed cas:serviceResponse.
type ServiceResponse struct {
	User           string
	Attributes     map[string][]string
	FailureCode    string
	FailureMessage string
}

// OK reports an authentication success.
func (r *ServiceResponse) OK() bool { return r.FailureCode == "" && r.User != "" }

type xmlAttr struct {
	XMLName xml.Name
	Value   string `xml:",chardata"`
}

type xmlServiceResponse struct {
	XMLName xml.Name `xml:"serviceResponse"`
	Success *struct {
		User       string `xml:"user"`
		Attributes struct {
			Items []xmlAttr `xml:",any"`
		} `xml:"attributes"`
	} `xml:"authenticationSuccess"`
	Failure *struct {
		Code    string `xml:"code,attr"`
		Message string `xml:",chardata"`
	} `xml:"authenticationFailure"`
}

// ParseServiceResponse parses the XML of /serviceValidate or /p3/serviceValidate. It checks
// the protocol's shape: a serviceResponse in the CAS namespace holding exactly one of
// authenticationSuccess (with user) or authenticationFailure (with a code).
func ParseServiceResponse(b []byte) (*ServiceResponse, error) {
	var x xmlServiceResponse
	if err := xml.Unmarshal(b, &x); err != nil {
		return nil, fmt.Errorf("CAS 响应不是有效的 XML：%v", err)
	}
	if x.XMLName.Space != CASNamespace {
		return nil, fmt.Errorf("CAS 响应的命名空间为 %q，应为 %s", x.XMLName.Space, CASNamespace)
	}
	switch {
	case x.Success != nil && x.Failure != nil:
		return nil, errors.New("CAS 响应同时包含成功与失败")
	case x.Success != nil:
		if strings.TrimSpace(x.Success.User) == "" {
			return nil, errors.New("CAS 响应缺少 cas:user")
		}
		out := &ServiceResponse{User: strings.TrimSpace(x.Success.User), Attributes: map[string][]string{}}
		for _, a := range x.Success.Attributes.Items {
			out.Attributes[a.XMLName.Local] = append(out.Attributes[a.XMLName.Local], strings.TrimSpace(a.Value))
		}
		return out, nil
	case x.Failure != nil:
		if x.Failure.Code == "" {
			return nil, errors.New("CAS 失败响应缺少 code")
		}
		return &ServiceResponse{FailureCode: x.Failure.Code, FailureMessage: strings.TrimSpace(x.Failure.Message)}, nil
	}
	return nil, errors.New("CAS 响应既无成功也无失败")
}

// LogoutRequest builds the SAML LogoutRequest that CAS single logout POSTs to a service as
// the form field logoutRequest.
func LogoutRequest(nameID, sessionIndex string, now time.Time) string {
	var id [16]byte
	rand.Read(id[:])
	var b bytes.Buffer
	b.WriteString(`<samlp:LogoutRequest xmlns:samlp="urn:oasis:names:tc:SAML:2.0:protocol" xmlns:saml="urn:oasis:names:tc:SAML:2.0:assertion" ID="LR-`)
	b.WriteString(hex.EncodeToString(id[:]))
	b.WriteString(`" Version="2.0" IssueInstant="`)
	b.WriteString(now.UTC().Format(time.RFC3339))
	b.WriteString(`"><saml:NameID>`)
	xml.EscapeText(&b, []byte(nameID))
	b.WriteString(`</saml:NameID><samlp:SessionIndex>`)
	xml.EscapeText(&b, []byte(sessionIndex))
	b.WriteString(`</samlp:SessionIndex></samlp:LogoutRequest>`)
	return b.String()
}

// ParseLogoutRequest returns the SessionIndex of a CAS single-logout request.
func ParseLogoutRequest(body string) (string, error) {
	var x struct {
		XMLName      xml.Name `xml:"LogoutRequest"`
		SessionIndex string   `xml:"SessionIndex"`
	}
	if err := xml.Unmarshal([]byte(body), &x); err != nil {
		return "", fmt.Errorf("logoutRequest 不是有效的 XML：%v", err)
	}
	if s := strings.TrimSpace(x.SessionIndex); s != "" {
		return s, nil
	}
	return "", errors.New("logoutRequest 缺少 SessionIndex")
}

// CASConfig configures a CAS server partner (zhsj is its CAS service).
type CASConfig struct {
	ServerURL string `json:"server_url"`        // e.g. https://idp.example.gov.cn/cas
	Version   string `json:"version,omitempty"` // "3" (default, /p3/serviceValidate with attributes) or "2"
	// Fields map the validation result: "user" or "attributes.NAME"; defaults: subject and
	// account "user", name "attributes.name", phone "attributes.mobile".
	Fields Fields `json:"fields,omitempty"`
	// SkipUpstreamLogout does not POST a logoutRequest to the server's /logout when the
	// zhsj session ends (zhsj's CAS server honours it; others may ignore it).
	SkipUpstreamLogout bool `json:"skip_upstream_logout,omitempty"`
}

func (c *CASConfig) validate() error {
	if err := needURL("server_url（CAS 服务器地址）", c.ServerURL); err != nil {
		return err
	}
	if c.Version != "" && c.Version != "2" && c.Version != "3" {
		return errors.New("version 只能是 2 或 3")
	}
	return nil
}

var defaultCASFields = Fields{Subject: "user", Account: "user", Name: "attributes.name", Phone: "attributes.mobile"}

type casConnector struct {
	cfg    CASConfig
	client *http.Client
}

func openCAS(config []byte, client *http.Client) (*casConnector, error) {
	var c CASConfig
	if err := decode(config, &c); err != nil {
		return nil, err
	}
	if err := c.validate(); err != nil {
		return nil, err
	}
	c.Fields = c.Fields.or(defaultCASFields)
	return &casConnector{cfg: c, client: client}, nil
}

func (c *casConnector) Kind() string { return KindCAS }

// service is the CAS service URL of one login: the callback carrying the state, since CAS
// has no state parameter of its own.
func service(req LoginRequest) string { return withQuery(req.CallbackURL, "state", req.State) }

func withQuery(raw, k, v string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return raw
	}
	q := u.Query()
	q.Set(k, v)
	u.RawQuery = q.Encode()
	return u.String()
}

func (c *casConnector) LoginURL(ctx context.Context, req LoginRequest) (string, error) {
	return withQuery(trimSlash(c.cfg.ServerURL, "/login"), "service", service(req)), nil
}

func (c *casConnector) HandleCallback(ctx context.Context, r *http.Request, req LoginRequest) (Identity, error) {
	ticket := r.URL.Query().Get("ticket")
	if ticket == "" {
		return Identity{}, errors.New("CAS 服务器未返回票据")
	}
	path := "/p3/serviceValidate"
	if c.cfg.Version == "2" {
		path = "/serviceValidate"
	}
	u, _ := url.Parse(trimSlash(c.cfg.ServerURL, path))
	q := url.Values{"service": {service(req)}, "ticket": {ticket}}
	u.RawQuery = q.Encode()
	hreq, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
	if err != nil {
		return Identity{}, err
	}
	resp, err := c.client.Do(hreq)
	if err != nil {
		return Identity{}, fmt.Errorf("向 CAS 服务器校验票据失败：%w", err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if resp.StatusCode != http.StatusOK {
		return Identity{}, httpError("CAS 票据校验", resp, body)
	}
	sr, err := ParseServiceResponse(body)
	if err != nil {
		return Identity{}, err
	}
	if !sr.OK() {
		return Identity{}, fmt.Errorf("CAS 票据校验未通过：%s %s", sr.FailureCode, sr.FailureMessage)
	}
	attrs := map[string]any{}
	for k, v := range sr.Attributes {
		if len(v) > 0 {
			attrs[k] = v[0]
		}
	}
	id, err := c.cfg.Fields.Extract(map[string]any{"user": sr.User, "attributes": attrs})
	if err != nil {
		return id, err
	}
	id.SessionRef, id.Token = ticket, ticket
	return id, nil
}

// LogoutNotice POSTs a SAML logoutRequest naming the service ticket to the server's
// /logout, the back channel zhsj's CAS server accepts from its services.
func (c *casConnector) LogoutNotice(ctx context.Context, s Session) (*Notice, error) {
	if c.cfg.SkipUpstreamLogout || s.SessionRef == "" {
		return nil, nil
	}
	return &Notice{URL: trimSlash(c.cfg.ServerURL, "/logout"),
		Form: url.Values{"logoutRequest": {LogoutRequest(s.Subject, s.SessionRef, time.Now())}}}, nil
}

// ParseLogout reads the CAS server's single-logout POST: the SessionIndex is the service
// ticket this service validated, a secret only the two ends know.
func (c *casConnector) ParseLogout(ctx context.Context, r *http.Request) ([]string, error) {
	idx, err := ParseLogoutRequest(r.PostFormValue("logoutRequest"))
	if err != nil {
		return nil, err
	}
	return []string{idx}, nil
}
