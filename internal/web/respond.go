package web

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"reflect"
	"strconv"
	"strings"
)

// Error is the API error body: {"error":{"code":"…","message":"…"}}.
type Error struct {
	Status  int               `json:"-"`
	Code    string            `json:"code"`
	Message string            `json:"message"`
	Fields  map[string]string `json:"fields,omitempty"`
}

func (e *Error) Error() string { return e.Code + ": " + e.Message }

// Errorf builds an *Error.
func Errorf(status int, code, format string, args ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, args...)}
}

// Common errors.
var (
	ErrUnauthenticated = &Error{Status: http.StatusUnauthorized, Code: "unauthenticated", Message: "请先登录"}
	ErrForbidden       = &Error{Status: http.StatusForbidden, Code: "forbidden", Message: "没有执行此操作的权限"}
	ErrNotFound        = &Error{Status: http.StatusNotFound, Code: "not_found", Message: "记录不存在或不在您的数据范围内"}
)

// JSON writes v as JSON with status.
func JSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
}

// Fail writes err as the JSON error format. Unknown errors become a 500 whose detail goes
// to the log only, with the request id so that support can find it.
func Fail(w http.ResponseWriter, r *http.Request, err error) {
	var e *Error
	if !errors.As(err, &e) {
		slog.ErrorContext(r.Context(), "request failed", "err", err, "request_id", RequestID(r.Context()), "path", r.URL.Path)
		e = &Error{Status: http.StatusInternalServerError, Code: "internal", Message: "服务器内部错误，请联系运维人员（请求编号 " + RequestID(r.Context()) + "）"}
	}
	JSON(w, e.Status, map[string]any{"error": e})
}

// Decode reads a JSON body into v, rejecting unknown fields and trailing data.
func Decode(r *http.Request, v any) error {
	dec := json.NewDecoder(r.Body)
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return Errorf(http.StatusRequestEntityTooLarge, "body_too_large", "请求内容超过 %d 字节上限", mbe.Limit)
		}
		if errors.Is(err, io.EOF) {
			return Errorf(http.StatusBadRequest, "bad_json", "请求内容为空")
		}
		return Errorf(http.StatusBadRequest, "bad_json", "请求内容不是有效的 JSON：%s", jsonProblem(err))
	}
	if dec.More() {
		return Errorf(http.StatusBadRequest, "bad_json", "请求内容包含多余数据")
	}
	return nil
}

// jsonProblem says in Chinese what is wrong with a request body, naming the field or the
// position, for people who typed it in a form (a mapping, headers).
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("第 %d 个字符附近格式错误（检查引号、逗号和括号是否成对）", syn.Offset)
	case errors.As(err, &typ):
		field := typ.Field
		if field == "" {
			field = "（整体）"
		}
		return fmt.Sprintf("字段 %s 的类型不对：应为%s，实为%s", field, jsonKind(typ.Type.Kind()), jsonValueName(typ.Value))
	case errors.Is(err, io.ErrUnexpectedEOF):
		return "内容不完整（缺少结尾的括号或引号）"
	}
	if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
		return "不认识的字段 " + name
	}
	return err.Error()
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "文本"
	case reflect.Bool:
		return "是/否（true 或 false）"
	case reflect.Slice, reflect.Array:
		return "列表 [...]"
	case reflect.Map, reflect.Struct:
		return "对象 {...}"
	case reflect.Float32, reflect.Float64:
		return "数字"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return "整数"
	}
	return k.String()
}

func jsonValueName(v string) string {
	switch {
	case v == "string":
		return "文本"
	case v == "number" || strings.HasPrefix(v, "number "):
		return "数字"
	case v == "bool":
		return "是/否"
	case v == "array":
		return "列表"
	case v == "object":
		return "对象"
	}
	return v
}

// Page is the paging of a list request: page from 1, size at most 500.
type Page struct {
	Page, Size int
}

// Offset is the SQL offset of the page.
func (p Page) Offset() int { return (p.Page - 1) * p.Size }

// pageURL is the address u on another page of its list, every other query parameter kept.
func pageURL(u *url.URL, page int) string {
	q := u.Query()
	q.Set("page", strconv.Itoa(page))
	return u.Path + "?" + q.Encode()
}

// PageLinks returns the addresses of the pages before and after pg in a list of total rows
// ("" where there is none).
func PageLinks(u *url.URL, pg Page, total int) (prev, next string) {
	if pg.Page > 1 {
		prev = pageURL(u, pg.Page-1)
	}
	if pg.Page*pg.Size < total {
		next = pageURL(u, pg.Page+1)
	}
	return
}

// Paging reads page and size from the query string (defaults 1 and 20; size at most 500).
func Paging(r *http.Request) (Page, error) {
	p := Page{Page: 1, Size: 20}
	if s := r.URL.Query().Get("page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			return p, Errorf(http.StatusBadRequest, "bad_page", "page 须为正整数")
		}
		p.Page = n
	}
	if s := r.URL.Query().Get("size"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > 500 {
			return p, Errorf(http.StatusBadRequest, "bad_size", "size 须为 1 到 500 之间的整数")
		}
		p.Size = n
	}
	return p, nil
}

// List is the shape of every paged list response.
type List[T any] struct {
	Items []T `json:"items"`
	Total int `json:"total"`
	Page  int `json:"page"`
	Size  int `json:"size"`
}

// PathInt64 parses a numeric path value.
func PathInt64(r *http.Request, name string) (int64, error) {
	n, err := strconv.ParseInt(r.PathValue(name), 10, 64)
	if err != nil || n <= 0 {
		return 0, Errorf(http.StatusBadRequest, "bad_id", "无效的编号 %q", r.PathValue(name))
	}
	return n, nil
}

// WantsJSON reports whether the client asked for JSON rather than a page.
func WantsJSON(r *http.Request) bool {
	return strings.HasPrefix(r.URL.Path, "/api/") || strings.Contains(r.Header.Get("Accept"), "application/json")
}

// SaveHandler is the handler of a create-or-update route: the route's {id} (absent on the
// create route) and the JSON body go to save, and the answer carries the record's id and
// message — 201 Created when a record was created, 200 when one was updated.
func SaveHandler[In any](message string, save func(r *http.Request, id int64, in In) (int64, error)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		var id int64
		if r.PathValue("id") != "" {
			var err error
			if id, err = PathInt64(r, "id"); err != nil {
				Fail(w, r, err)
				return
			}
		}
		var in In
		if err := Decode(r, &in); err != nil {
			Fail(w, r, err)
			return
		}
		nid, err := save(r, id, in)
		if err != nil {
			Fail(w, r, err)
			return
		}
		status := http.StatusOK
		if id == 0 {
			status = http.StatusCreated
		}
		JSON(w, status, map[string]any{"id": nid, "message": message})
	}
}

// Whole is a list answered in one page: every item, never null.
func Whole[T any](items []T) List[T] {
	items = NonNil(items)
	return List[T]{Items: items, Total: len(items), Page: 1, Size: len(items)}
}

// NonNil returns s, or an empty slice for nil, so that JSON shows [] rather than null.
func NonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// ByID answers a route with an {id}: get receives the parsed id and its value is the JSON
// answer; a bad id or an error from get is answered by Fail.
func ByID(w http.ResponseWriter, r *http.Request, get func(id int64) (any, error)) {
	id, err := PathInt64(r, "id")
	if err != nil {
		Fail(w, r, err)
		return
	}
	v, err := get(id)
	if err != nil {
		Fail(w, r, err)
		return
	}
	JSON(w, http.StatusOK, v)
}
