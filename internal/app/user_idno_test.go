package app_test

import (
	"context"
	"strings"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/gm"
	"zhsj/internal/iam"
)

// TestUserIDNo: a user's citizen ID number (身份证号) is validated (GB 11643 check character)
// with a Chinese field error, normalised, sealed with a blind index, and only ever shown
// masked: not by the API, the pages or the audit log.
func TestUserIDNo(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		e.User("sys", "610000", "sysadmin")
		sys := e.Login("sys")

		// Wrong check character (…2019 should end in 8), wrong length, impossible birth date.
		for _, bad := range []string{"610302198503122019", "61030219850312", "610302198502302018"} {
			res := sys.Do("POST", "/api/v1/users", map[string]any{"account": "bad_id", "name": "错号", "region_code": "610000", "id_no": bad})
			var er struct {
				Error struct {
					Code    string            `json:"code"`
					Message string            `json:"message"`
					Fields  map[string]string `json:"fields"`
				} `json:"error"`
			}
			res.JSON(&er)
			if res.Status != 400 || er.Error.Code != "invalid_user" || !strings.HasPrefix(er.Error.Fields["id_no"], "身份证号不正确：") ||
				!strings.Contains(er.Error.Message, "身份证号不正确") {
				t.Fatalf("invalid ID %s: %d %s", bad, res.Status, res.Body)
			}
		}
		res := sys.Do("POST", "/api/v1/users", map[string]any{"account": "bad_id", "name": "错号", "region_code": "610000", "id_no": "610302198503122019"})
		if !strings.Contains(string(res.Body), "校验码") {
			t.Fatalf("the check-digit error should say so: %s", res.Body)
		}
		var n int
		e.App.DB.Get(ctx, &n, `SELECT COUNT(*) FROM users WHERE account = 'bad_id'`)
		if n != 0 {
			t.Fatal("a user with an invalid ID number was created")
		}

		// Lower-case x and surrounding (full-width) space are normalised.
		const plain, mask = "61030219850312104X", "610302********104X"
		res = sys.Do("POST", "/api/v1/users", map[string]any{"account": "zhao", "name": "赵", "region_code": "610000", "id_no": "　61030219850312104x "})
		var u struct{ ID int64 }
		if res.JSON(&u); res.Status != 201 {
			t.Fatalf("create: %d %s", res.Status, res.Body)
		}
		noPlain := func(what string, body []byte) {
			t.Helper()
			if s := strings.ToUpper(string(body)); strings.Contains(s, plain) || strings.Contains(s, "6103021985031210") {
				t.Fatalf("%s holds the ID number in clear: %.300s", what, body)
			}
		}
		var got struct {
			IDNo string `json:"id_no"`
		}
		res = sys.Do("GET", "/api/v1/users/"+itoa(u.ID), nil)
		if res.JSON(&got); res.Status != 200 || got.IDNo != mask {
			t.Fatalf("user: %d %s", res.Status, res.Body)
		}
		noPlain("GET /api/v1/users/{id}", res.Body)
		res = sys.Do("GET", "/api/v1/users?q=zhao", nil)
		if res.Status != 200 || !strings.Contains(string(res.Body), mask) {
			t.Fatalf("list: %d %s", res.Status, res.Body)
		}
		noPlain("GET /api/v1/users", res.Body)
		for _, page := range []string{"/admin/users", "/admin/users/" + itoa(u.ID)} {
			res = sys.Do("GET", page, nil)
			if res.Status != 200 || !strings.Contains(string(res.Body), mask) {
				t.Fatalf("%s: %d, mask not shown", page, res.Status)
			}
			noPlain(page, res.Body)
		}

		// Stored sealed, with the blind index of the normalised number.
		var row struct {
			Enc []byte `db:"id_no_enc"`
			Idx string `db:"id_no_idx"`
		}
		if err := e.App.DB.Get(ctx, &row, `SELECT id_no_enc, id_no_idx FROM users WHERE id = ?`, u.ID); err != nil {
			t.Fatal(err)
		}
		noPlain("id_no_enc", row.Enc)
		if row.Idx != iam.IDNoIndex(e.App.Keys, plain) {
			t.Fatalf("blind index %q is not that of %s", row.Idx, plain)
		}
		if open, err := e.App.Keys.Open(gm.PurposeIDNo, row.Enc); err != nil || string(open) != plain {
			t.Fatalf("sealed value: %q %v", open, err)
		}

		// Editing: an invalid number is refused and changes nothing; an old 15-digit number
		// is kept in its 18-digit form; leaving it empty keeps it.
		res = sys.Do("PUT", "/api/v1/users/"+itoa(u.ID), map[string]any{"name": "赵", "region_code": "610000", "id_no": "61030219850312104Y"})
		if res.Status != 400 || !strings.Contains(string(res.Body), `"id_no"`) {
			t.Fatalf("update with an invalid ID: %d %s", res.Status, res.Body)
		}
		if res := sys.Do("PUT", "/api/v1/users/"+itoa(u.ID), map[string]any{"name": "赵", "region_code": "610000", "id_no": "610302720505002"}); res.Status != 200 {
			t.Fatalf("update: %d %s", res.Status, res.Body)
		}
		sys.Do("GET", "/api/v1/users/"+itoa(u.ID), nil).JSON(&got)
		if got.IDNo != "610302********0023" {
			t.Fatalf("after update: %q", got.IDNo)
		}
		if res := sys.Do("PUT", "/api/v1/users/"+itoa(u.ID), map[string]any{"name": "赵二", "region_code": "610000"}); res.Status != 200 {
			t.Fatalf("update without ID: %d %s", res.Status, res.Body)
		}
		if sys.Do("GET", "/api/v1/users/"+itoa(u.ID), nil).JSON(&got); got.IDNo != "610302********0023" {
			t.Fatalf("an update without id_no changed it: %q", got.IDNo)
		}

		// The audit log records the changes with the mask only.
		var details []string
		e.App.DB.Select(ctx, &details, `SELECT detail FROM audit_log WHERE action IN ('iam.user.create', 'iam.user.update') AND object_id = ?`, itoa(u.ID))
		all := strings.Join(details, "\n")
		if len(details) != 3 || !strings.Contains(all, mask) || !strings.Contains(all, "610302********0023") {
			t.Fatalf("audit: %q", details)
		}
		for _, s := range []string{plain, "610302720505002", "610302197205050023"} {
			if strings.Contains(strings.ToUpper(all), s) {
				t.Fatalf("audit holds %s in clear: %q", s, details)
			}
		}

		// A security administrator may see the full number on purpose; the viewing is audited
		// (without the number), and the system administrator may not.
		e.User("sec", "610000", "secadmin")
		var full struct {
			IDNo    string `json:"id_no"`
			Message string `json:"message"`
		}
		if res := e.Login("sec").Do("GET", "/api/v1/users/"+itoa(u.ID)+"/id-no", nil); res.Status != 200 || res.JSON(&full) != nil || full.IDNo != "610302197205050023" ||
			full.Message != "完整身份证号：610302197205050023（本次查看已记入审计日志）" {
			t.Fatalf("unmask: %d %s", res.Status, res.Body)
		}
		if res := sys.Do("GET", "/api/v1/users/"+itoa(u.ID)+"/id-no", nil); res.Status != 403 {
			t.Fatalf("system administrator unmasked: %d", res.Status)
		}
		// The console offers the button to the security administrator only; its answer is the
		// message the page shows.
		if page := e.Login("sec").Do("GET", "/admin/users/"+itoa(u.ID), nil); page.Status != 200 || !strings.Contains(string(page.Body), `id="unmask-idno"`) {
			t.Fatalf("security administrator's user page: %d, button %v", page.Status, strings.Contains(string(page.Body), `id="unmask-idno"`))
		}
		if page := sys.Do("GET", "/admin/users/"+itoa(u.ID), nil); strings.Contains(string(page.Body), `id="unmask-idno"`) || strings.Contains(string(page.Body), "610302197205050023") {
			t.Fatal("system administrator's user page offers the full number")
		}
		var viewed []string
		e.App.DB.Select(ctx, &viewed, `SELECT detail FROM audit_log WHERE action = 'iam.user.unmask' AND object_id = ?`, itoa(u.ID))
		if len(viewed) != 1 || viewed[0] != "查看完整身份证号" {
			t.Fatalf("unmask audit: %q", viewed)
		}
	})
}
