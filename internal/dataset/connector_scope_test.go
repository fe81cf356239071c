package dataset_test

import (
	"context"
	"strconv"
	"strings"
	"testing"

	"zhsj/internal/app/apptest"
	"zhsj/internal/dataset"
	"zhsj/internal/iam"
)

// TestConnectorsFollowDatasetPermission: a connector's address and mapping describe its
// dataset, so only users who may read that dataset see or run it.
func TestConnectorsFollowDatasetPermission(t *testing.T) {
	apptest.Each(t, func(t *testing.T, e *apptest.Env) {
		ctx := context.Background()
		if _, err := e.App.IAM.CreateRole(ctx, nil, iam.System(), iam.RoleInput{Code: "licence_loader", Name: "许可证数据接入员", DataScope: "all",
			Permissions: []string{dataset.PermCatalogRead, dataset.PermIngestRun, "dataset.licence.read"}}); err != nil {
			t.Fatal(err)
		}
		e.User("loader", "610000", "licence_loader")
		e.User("admin1", "610000", "analyst")
		adm := e.Login("admin1")
		var ent struct{ ID int64 }
		for _, in := range []dataset.ConnectorInput{
			{Name: "企业接口", Dataset: "enterprise", Kind: dataset.ConnHTTPPull, Config: dataset.ConnectorConfig{URL: "http://127.0.0.1:9/ent"}},
			{Name: "许可证接口", Dataset: "licence", Kind: dataset.ConnHTTPPull, Config: dataset.ConnectorConfig{URL: "http://127.0.0.1:9/lic"}},
		} {
			res := adm.Do("POST", "/api/v1/connectors", in)
			if res.Status != 201 {
				t.Fatalf("save connector: %d %s", res.Status, res.Body)
			}
			if in.Dataset == "enterprise" {
				res.JSON(&ent)
			}
		}
		c := e.Login("loader")
		var list struct{ Items []dataset.Connector }
		c.Do("GET", "/api/v1/connectors", nil).JSON(&list)
		if len(list.Items) != 1 || list.Items[0].Dataset != "licence" {
			t.Fatalf("loader sees %+v", list.Items)
		}
		if res := c.Do("POST", "/api/v1/connectors/"+strconv.FormatInt(ent.ID, 10)+"/run", nil); res.Status != 403 {
			t.Fatalf("loader ran the enterprise connector: %d %s", res.Status, res.Body)
		}
		if page := c.Do("GET", "/ingest/connectors", nil); page.Status != 200 || strings.Contains(string(page.Body), "企业接口") || !strings.Contains(string(page.Body), "许可证接口") {
			t.Fatalf("connectors page: %d", page.Status)
		}
	})
}
