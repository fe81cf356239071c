package web

import (
	"net/http/httptest"
	"strings"
	"testing"
)

// TestDecodeExplainsInChinese: a body typed into a form (a mapping, headers) that is not the
// expected JSON gets a Chinese explanation naming the field or position, not Go's message.
func TestDecodeExplainsInChinese(t *testing.T) {
	type in struct {
		Name    string            `json:"name"`
		Size    int               `json:"size"`
		Mapping map[string]string `json:"mapping"`
	}
	for body, want := range map[string]string{
		`{"name": "a", "size": "ten"}`: "字段 size 的类型不对：应为整数，实为文本",
		`{"mapping": ["a"]}`:           "字段 mapping 的类型不对：应为对象 {...}，实为列表",
		`{"name": "a",, }`:             "第 14 个字符附近格式错误",
		`{"name": "a"`:                 "内容不完整",
		`{"nmae": "a"}`:                `不认识的字段 "nmae"`,
		``:                             "请求内容为空",
		`{"name": "a"} {"name": "b"}`:  "多余数据",
		`{"mapping": {"统一代码": 1}}`:     "字段 mapping 的类型不对：应为文本，实为数字",
		`{"size": 1.5}`:                "字段 size 的类型不对：应为整数，实为数字",
	} {
		var v in
		err := Decode(httptest.NewRequest("POST", "/", strings.NewReader(body)), &v)
		we, ok := err.(*Error)
		if !ok || we.Code != "bad_json" || !strings.Contains(we.Message, want) || strings.Contains(we.Message, "json:") {
			t.Errorf("%s: %v, want %q", body, err, want)
		}
	}
}
