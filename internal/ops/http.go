package ops

import (
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/http"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

//go:embed templates
var templates embed.FS

// Templates are the module's pages.
func Templates() fs.FS { return templates }

// SetPages gives the module the page renderer.
func (s *Service) SetPages(p *web.Pages) { s.pages = p }

// Permissions declares the module's permissions.
func (s *Service) Permissions() []web.Perm {
	return []web.Perm{
		{Code: PermBackupRead, Name: "查看备份记录与备份策略", Group: "运维中心"},
		{Code: PermBackupWrite, Name: "执行备份、恢复验证，修改备份策略", Group: "运维中心"},
		{Code: PermReleaseRead, Name: "查看版本发布记录", Group: "运维中心"},
		{Code: PermJobsRead, Name: "查看定时任务与运行记录", Group: "运维中心"},
		{Code: PermJobsRun, Name: "立即运行、暂停与恢复定时任务", Group: "运维中心"},
	}
}

// Menu is the module's part of the left menu.
func (s *Service) Menu() []web.MenuItem {
	return []web.MenuItem{
		{Group: "运维中心", Title: "备份与恢复", Path: "/ops/backups", Permission: PermBackupRead, Order: 60},
		{Group: "运维中心", Title: "版本发布记录", Path: "/ops/releases", Permission: PermReleaseRead, Order: 61},
		{Group: "运维中心", Title: "定时任务", Path: "/ops/jobs", Permission: PermJobsRead, Order: 62},
	}
}

// Routes are the module's pages and API.
func (s *Service) Routes() []web.Route {
	return []web.Route{
		{Method: "GET", Pattern: "/ops/backups", Permission: PermBackupRead, Summary: "备份与恢复", Handler: s.backupsPage},
		{Method: "GET", Pattern: "/ops/releases", Permission: PermReleaseRead, Summary: "版本发布记录", Handler: s.releasesPage},
		{Method: "GET", Pattern: "/api/v1/ops/backups", Permission: PermBackupRead, Summary: "备份记录列表", Handler: s.listBackups},
		{Method: "POST", Pattern: "/api/v1/ops/backups", Permission: PermBackupWrite, Summary: "立即备份", Handler: s.createBackup},
		{Method: "POST", Pattern: "/api/v1/ops/backups/{id}/verify", Permission: PermBackupWrite, Summary: "备份恢复验证（恢复到临时库并核对）", Handler: s.verifyBackup},
		{Method: "GET", Pattern: "/api/v1/ops/backup-settings", Permission: PermBackupRead, Summary: "查看备份策略", Handler: s.getSettings},
		{Method: "PUT", Pattern: "/api/v1/ops/backup-settings", Permission: PermBackupWrite, Summary: "修改备份策略", Handler: s.putSettings},
		{Method: "GET", Pattern: "/api/v1/ops/releases", Permission: PermReleaseRead, Summary: "版本发布记录列表", Handler: s.listReleases},
		{Method: "GET", Pattern: "/ops/jobs", Permission: PermJobsRead, ProvinceWide: true, Summary: "定时任务", Handler: s.jobsPage},
		{Method: "GET", Pattern: "/api/v1/ops/jobs", Permission: PermJobsRead, ProvinceWide: true, Summary: "定时任务及最近运行记录（?job= 只看一个任务）", Handler: s.listJobs},
		{Method: "POST", Pattern: "/api/v1/ops/jobs/{name}/run", Permission: PermJobsRun, ProvinceWide: true, Summary: "立即运行定时任务", Handler: s.runJob},
		{Method: "PUT", Pattern: "/api/v1/ops/jobs/{name}", Permission: PermJobsRun, ProvinceWide: true, Summary: "暂停或恢复定时任务（enabled）", Handler: s.setJob},
	}
}

func (s *Service) record(r *http.Request, tx store.Q, action, objectID, result, detail string) error {
	return s.audit.Record(r.Context(), tx, audit.FromRequest(r, audit.Entry{Kind: audit.KindOperation, Action: action,
		ObjectType: "backup", ObjectID: objectID, Result: result, Detail: detail}))
}

func (s *Service) listBackups(w http.ResponseWriter, r *http.Request) {
	p, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	items, total, err := s.Backups(r.Context(), iam.FromContext(r.Context()), p.Offset(), p.Size)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.List[BackupRecord]{Items: items, Total: total, Page: p.Page, Size: p.Size})
}

func (s *Service) createBackup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	p := iam.FromContext(ctx)
	rec, err := s.BackupNow(ctx, KindManual, p.Account)
	if err != nil {
		s.record(r, nil, "ops.backup.create", "", audit.ResultFailure, "手动备份失败："+err.Error())
		web.Fail(w, r, web.Errorf(http.StatusInternalServerError, "backup_failed", "备份失败：%v", err))
		return
	}
	if err := s.record(r, nil, "ops.backup.create", fmt.Sprint(rec.ID), audit.ResultSuccess,
		fmt.Sprintf("手动备份 %s（%d 张表，%d 行，%s）", rec.Name(), rec.TablesCount, rec.RowsCount, rec.SizeText())); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusCreated, map[string]any{"id": rec.ID, "backup": rec, "message": "备份完成：" + rec.Name()})
}

func (s *Service) verifyBackup(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	id, err := web.PathInt64(r, "id")
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	b, err := s.Backup(ctx, iam.FromContext(ctx), id)
	if errors.Is(err, store.ErrNotFound) {
		web.Fail(w, r, web.ErrNotFound)
		return
	} else if err != nil {
		web.Fail(w, r, err)
		return
	}
	v, err := s.Verify(ctx, b)
	if err != nil {
		web.Fail(w, r, web.Errorf(http.StatusConflict, "verify_failed", "%v", err))
		return
	}
	result := audit.ResultSuccess
	if !v.OK {
		result = audit.ResultFailure
	}
	if err := s.record(r, nil, "ops.backup.verify", fmt.Sprint(b.ID), result, b.Name()+"："+v.Summary()); err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"verification": v, "message": v.Summary()})
}

func (s *Service) getSettings(w http.ResponseWriter, r *http.Request) {
	st, err := s.Settings(r.Context())
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, st)
}

func (s *Service) putSettings(w http.ResponseWriter, r *http.Request) {
	var in Settings
	if err := web.Decode(r, &in); err != nil {
		web.Fail(w, r, err)
		return
	}
	if in.RetentionDays < 1 || in.RetentionDays > 3650 {
		web.Fail(w, r, web.Errorf(http.StatusBadRequest, "invalid_retention", "保留天数须为 1 到 3650 之间的整数"))
		return
	}
	if in.Keep < 1 || in.Keep > 1000 {
		web.Fail(w, r, web.Errorf(http.StatusBadRequest, "invalid_keep", "至少保留份数须为 1 到 1000 之间的整数"))
		return
	}
	err := s.db.InTx(r.Context(), func(tx *store.Tx) error {
		if err := s.saveSettings(r.Context(), tx, in); err != nil {
			return err
		}
		return s.record(r, tx, "ops.backup.settings", "", audit.ResultSuccess,
			fmt.Sprintf("备份策略：保留 %d 天，至少保留最近 %d 份", in.RetentionDays, in.Keep))
	})
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, map[string]any{"message": "备份策略已保存"})
}

func (s *Service) listReleases(w http.ResponseWriter, r *http.Request) {
	items, err := s.Releases(r.Context(), iam.FromContext(r.Context()))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	web.JSON(w, http.StatusOK, web.Whole(items))
}

type backupsPage struct {
	Items    []BackupRecord
	Total    int
	Settings Settings
	CanWrite bool
	Page     int
	Pages    int
	PrevURL  string
	NextURL  string
}

func (s *Service) backupsPage(w http.ResponseWriter, r *http.Request) {
	ctx := r.Context()
	pg, err := web.Paging(r)
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	d := backupsPage{CanWrite: web.ViewerFrom(ctx).Can(PermBackupWrite), Page: pg.Page}
	if d.Items, d.Total, err = s.Backups(ctx, iam.FromContext(ctx), pg.Offset(), pg.Size); err != nil {
		web.Fail(w, r, err)
		return
	}
	if d.Settings, err = s.Settings(ctx); err != nil {
		web.Fail(w, r, err)
		return
	}
	d.Pages = max(1, (d.Total+pg.Size-1)/pg.Size)
	if pg.Page > 1 {
		d.PrevURL = fmt.Sprintf("/ops/backups?page=%d", pg.Page-1)
	}
	if pg.Page < d.Pages {
		d.NextURL = fmt.Sprintf("/ops/backups?page=%d", pg.Page+1)
	}
	s.pages.Render(w, r, "ops_backups.html", web.PageData{Title: "备份与恢复", Crumbs: []web.Crumb{{Title: "运维中心"}, {Title: "备份与恢复"}}, Data: d})
}

func (s *Service) releasesPage(w http.ResponseWriter, r *http.Request) {
	items, err := s.Releases(r.Context(), iam.FromContext(r.Context()))
	if err != nil {
		web.Fail(w, r, err)
		return
	}
	s.pages.Render(w, r, "ops_releases.html", web.PageData{Title: "版本发布记录", Crumbs: []web.Crumb{{Title: "运维中心"}, {Title: "版本发布记录"}}, Data: items})
}
