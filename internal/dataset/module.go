package dataset

import (
	"context"
	"embed"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/gm"
	"zhsj/internal/iam"
	"zhsj/internal/jobs"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

//go:embed templates
var templates embed.FS

// Templates are the dataset page templates (templates/dataset_*.html).
func Templates() fs.FS { return templates }

// Deps are what the module is built from.
type Deps struct {
	DB     *store.DB
	Keys   gm.Keyring
	Audit  *audit.Log
	IAM    *iam.Service
	Jobs   *jobs.Scheduler
	Logger *slog.Logger
	// MaxUpload bounds an uploaded file; default 128 MiB.
	MaxUpload int64
}

// Module is the dataset module: registry, code tables, ingestion, API and pages.
type Module struct {
	db        *store.DB
	keys      gm.Keyring
	audit     *audit.Log
	iam       *iam.Service
	jobs      *jobs.Scheduler
	log       *slog.Logger
	pages     *web.Pages
	maxUpload int64
	now       func() time.Time
	batchRows int // records per batch; 0 = batchRows (tests use small batches)

	bg sync.WaitGroup // background upload runs
}

// New builds the module.
func New(d Deps) *Module {
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	if d.MaxUpload <= 0 {
		d.MaxUpload = 128 << 20
	}
	return &Module{db: d.DB, keys: d.Keys, audit: d.Audit, iam: d.IAM, jobs: d.Jobs, log: d.Logger, maxUpload: d.MaxUpload, now: store.Now}
}

// Init prepares the database part of the module (code tables); run at every start.
func (m *Module) Init(ctx context.Context) error {
	if err := SeedCodeTables(ctx, m.db); err != nil {
		return err
	}
	// Indexes deferred by a bulk load that was killed are built again.
	return m.RecoverIndexes(ctx)
}

// SetPages gives the module the page renderer.
func (m *Module) SetPages(p *web.Pages) { m.pages = p }

// Wait waits for background runs started by uploads (tests, shutdown).
func (m *Module) Wait() { m.bg.Wait() }

// Permissions of the module.
const (
	PermCatalogRead    = "dataset.catalog.read"     // 查看数据集目录、代码表和运行记录
	PermIngestRun      = "dataset.ingest.run"       // 上传文件、运行导入
	PermQuarantineRead = "dataset.quarantine.read"  // 查看隔离区
	PermQuarantineEdit = "dataset.quarantine.write" // 更正、重放、忽略隔离记录
	PermRecordUnmask   = "dataset.record.unmask"    // 查看未脱敏的个人信息（记入审计）
	PermCodeWrite      = "dataset.code.write"       // 维护代码表
	PermPush           = "dataset.push.write"       // 交换平台实时推送（API 令牌）
	PermConnectorWrite = "dataset.connector.write"  // 维护数据源连接
)

// Permissions declares the module's permissions for the role editor.
func (m *Module) Permissions() []web.Perm {
	out := []web.Perm{
		{Code: PermCatalogRead, Name: "查看数据集目录与导入记录", Group: "数据治理"},
		{Code: PermIngestRun, Name: "导入数据（上传文件、运行导入）", Group: "数据治理"},
		{Code: PermQuarantineRead, Name: "查看隔离区记录", Group: "数据治理"},
		{Code: PermQuarantineEdit, Name: "更正、重放或忽略隔离记录", Group: "数据治理"},
		{Code: PermRecordUnmask, Name: "查看未脱敏的个人信息（记入审计）", Group: "数据治理"},
		{Code: PermCodeWrite, Name: "维护代码表", Group: "数据治理"},
		{Code: PermPush, Name: "实时推送数据（交换平台）", Group: "数据治理"},
		{Code: PermConnectorWrite, Name: "维护数据源连接与调度", Group: "数据治理"},
	}
	for _, d := range All() {
		out = append(out, web.Perm{Code: d.ReadPermission(), Name: "查看数据集：" + d.TitleZh, Group: "数据治理"})
	}
	return out
}

// Menu is the module's part of the left menu (group 数据治理).
func (m *Module) Menu() []web.MenuItem {
	return []web.MenuItem{
		{Group: "数据治理", Title: "数据集", Path: "/datasets", Permission: PermCatalogRead, Order: 10},
		{Group: "数据治理", Title: "导入记录", Path: "/ingest/runs", Permission: PermCatalogRead, Order: 12},
		{Group: "数据治理", Title: "数据源连接", Path: "/ingest/connectors", Permission: PermCatalogRead, Order: 13},
		{Group: "数据治理", Title: "代码表", Path: "/datasets/codes", Permission: PermCatalogRead, Order: 14},
	}
}
