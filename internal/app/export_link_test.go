package app_test

import (
	"html"
	"regexp"
	"strings"
	"testing"

	"github.com/xuri/excelize/v2"

	"zhsj/internal/app/apptest"
	"zhsj/internal/store/storetest"
)

// TestUsersExportLinkKeepsFilters follows the export button of a filtered user list: the
// workbook holds the filtered users only. (The link's query was once escaped as a single
// value, and the export then held every user in scope.)
func TestUsersExportLinkKeepsFilters(t *testing.T) {
	e := apptest.New(t, storetest.SQLite(t))
	e.User("sys", "610000", "sysadmin")
	e.User("xa_clerk", "610100", "analyst")
	e.User("bj_clerk", "610300", "analyst")
	c := e.Login("sys")
	page := c.Do("GET", "/admin/users?region=610100", nil)
	m := regexp.MustCompile(`href="(/api/v1/users/export\?[^"]*)"`).FindSubmatch(page.Body)
	if page.Status != 200 || m == nil {
		t.Fatalf("users page: %d, export link found: %v", page.Status, m != nil)
	}
	link := html.UnescapeString(string(m[1]))
	res := c.Do("GET", link, nil)
	if res.Status != 200 {
		t.Fatalf("GET %s: %d %.200s", link, res.Status, res.Body)
	}
	f, err := excelize.OpenReader(strings.NewReader(string(res.Body)))
	if err != nil {
		t.Fatal(err)
	}
	rows, _ := f.GetRows(f.GetSheetList()[0])
	var all []string
	for _, r := range rows {
		all = append(all, strings.Join(r, "|"))
	}
	joined := strings.Join(all, "\n")
	if !strings.Contains(joined, "xa_clerk") || strings.Contains(joined, "bj_clerk") || strings.Contains(joined, "sys|") {
		t.Fatalf("export of %s:\n%s", link, joined)
	}
}
