package web

import (
	"regexp"
	"sort"
	"strings"
)

var pathParam = regexp.MustCompile(`\{([a-zA-Z_][a-zA-Z0-9_]*)(\.\.\.)?\}`)

// OpenAPI builds the OpenAPI 3 document of the /api/ routes from the route table itself, so
// that it cannot drift from what is served.
func OpenAPI(routes []Route, version string) map[string]any {
	paths := map[string]map[string]any{}
	for _, r := range routes {
		if !strings.HasPrefix(r.Pattern, "/api/") {
			continue
		}
		p := paths[r.Pattern]
		if p == nil {
			p = map[string]any{}
			paths[r.Pattern] = p
		}
		op := map[string]any{
			"summary":     r.Summary,
			"operationId": operationID(r),
			"tags":        []string{tagOf(r.Pattern)},
			"responses": map[string]any{
				"200":     map[string]any{"description": "成功", "content": map[string]any{"application/json": map[string]any{}}},
				"default": map[string]any{"description": "错误", "content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"$ref": "#/components/schemas/Error"}}}},
			},
		}
		var params []map[string]any
		for _, m := range pathParam.FindAllStringSubmatch(r.Pattern, -1) {
			params = append(params, map[string]any{"name": m[1], "in": "path", "required": true, "schema": map[string]any{"type": "string"}})
		}
		if r.Method == "GET" && (strings.HasSuffix(r.Pattern, "s") || strings.Contains(r.Summary, "列表")) {
			params = append(params,
				map[string]any{"name": "page", "in": "query", "schema": map[string]any{"type": "integer", "minimum": 1}},
				map[string]any{"name": "size", "in": "query", "schema": map[string]any{"type": "integer", "minimum": 1, "maximum": 500}})
		}
		if len(params) > 0 {
			op["parameters"] = params
		}
		if r.Method == "POST" || r.Method == "PUT" || r.Method == "PATCH" {
			op["requestBody"] = map[string]any{"content": map[string]any{"application/json": map[string]any{"schema": map[string]any{"type": "object"}}}}
		}
		switch r.Permission {
		case Public:
			op["security"] = []any{}
		case LoggedIn:
		default:
			op["x-permission"] = r.Permission
		}
		if r.ProvinceWide {
			op["x-province-wide"] = true // only callers whose data scope is the whole province
		}
		p[strings.ToLower(r.Method)] = op
	}
	keys := make([]string, 0, len(paths))
	for k := range paths {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	ordered := map[string]any{}
	for _, k := range keys {
		ordered[k] = paths[k]
	}
	return map[string]any{
		"openapi": "3.0.3",
		"info": map[string]any{
			"title":       "智慧市监 zhsj API",
			"version":     version,
			"description": "陕西省市场监督管理局智慧云中心平台接口。会话 Cookie 或 API 令牌（Authorization: Bearer）鉴权；错误格式 {\"error\":{\"code\",\"message\"}}。",
		},
		"paths": ordered,
		"components": map[string]any{
			"securitySchemes": map[string]any{
				"session": map[string]any{"type": "apiKey", "in": "cookie", "name": "zhsj_session"},
				"token":   map[string]any{"type": "http", "scheme": "bearer"},
			},
			"schemas": map[string]any{
				"Error": map[string]any{"type": "object", "properties": map[string]any{
					"error": map[string]any{"type": "object", "properties": map[string]any{
						"code":    map[string]any{"type": "string"},
						"message": map[string]any{"type": "string"},
					}},
				}},
			},
		},
		"security": []any{map[string]any{"session": []any{}}, map[string]any{"token": []any{}}},
	}
}

func operationID(r Route) string {
	s := strings.TrimPrefix(r.Pattern, "/api/v1/")
	s = pathParam.ReplaceAllString(s, "by_$1")
	s = strings.NewReplacer("/", "_", "-", "_", ".", "_").Replace(s)
	return strings.ToLower(r.Method) + "_" + s
}

func tagOf(p string) string {
	s := strings.TrimPrefix(p, "/api/v1/")
	t, _, _ := strings.Cut(s, "/")
	return t
}
