package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"zhsj/internal/config"
	"zhsj/internal/dataset"
)

func init() { extraCommands = append(extraCommands, ingestCmd) }

// ingestSummary is the --json output: totals over the files and each run.
type ingestSummary struct {
	Dataset     string            `json:"dataset"`
	Status      string            `json:"status"`
	RunID       int64             `json:"run_id"`
	Read        int64             `json:"read"`
	Upserted    int64             `json:"upserted"`
	Unchanged   int64             `json:"unchanged"`
	Quarantined int64             `json:"quarantined"`
	DurationMS  int64             `json:"duration_ms"`
	Error       string            `json:"error,omitempty"`
	Runs        []*dataset.Result `json:"runs"`
}

func ingestCmd() *cobra.Command {
	var ds, format, encoding, sheet, task, connector string
	var maps []string
	var asJSON, quiet bool
	c := &cobra.Command{
		Use:   "ingest --dataset NAME [--json] FILE… | ingest --connector NAME [--json]",
		Short: "导入数据文件（CSV、XLSX、JSON、NDJSON）到数据集：校验、入库、问题记录进入隔离区",
		Long: "导入数据文件到数据集。每个文件是一次运行：合格记录按主键写入（重复导入不会重复写入），不合格记录连同原因进入隔离区，可在页面更正后重放。\n" +
			"--connector 立即运行一个数据源连接（HTTP 或数据库拉取，从其增量游标继续），与页面上的“立即运行”相同。\n" +
			"运行已提交（即使有隔离记录）时退出码为 0；文件无法读取或导入失败时非 0。数据集：" + strings.Join(dataset.Names(), "、"),
		RunE: func(cmd *cobra.Command, args []string) error {
			switch {
			case connector == "" && len(args) == 0:
				return errors.New("请指定要导入的文件，或用 --connector 运行数据源连接")
			case connector != "" && len(args) > 0:
				return errors.New("--connector 运行数据源连接时不能再指定文件")
			}
			d, ok := dataset.Get(ds)
			if !ok && connector == "" {
				err := fmt.Errorf("请用 --dataset 指定数据集（%s）", strings.Join(dataset.Names(), "、"))
				if ds != "" {
					err = fmt.Errorf("数据集 %q 不存在，可用的数据集：%s", ds, strings.Join(dataset.Names(), "、"))
				}
				if asJSON { // scripts read the answer from stdout, as for a failed file
					enc := json.NewEncoder(cmd.OutOrStdout())
					enc.SetEscapeHTML(false)
					enc.Encode(&ingestSummary{Dataset: ds, Status: dataset.StatusFailed, Error: err.Error(), Runs: []*dataset.Result{}})
				}
				return err
			}
			mapping := dataset.Mapping{}
			for _, m := range maps {
				col, field, ok := strings.Cut(m, "=")
				if !ok {
					return fmt.Errorf("--map 应为 源列名=字段名，实为 %q", m)
				}
				mapping[strings.TrimSpace(col)] = strings.TrimSpace(field)
			}
			ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			a, err := openApp(ctx, cmd)
			if err != nil {
				return err
			}
			defer a.DB.Close()
			m := dataset.New(dataset.Deps{DB: a.DB, Keys: a.Keys, Audit: a.Audit, IAM: a.IAM, Logger: a.Log})
			// One run per file, or the connector's one run.
			type ingestRun struct {
				label string
				run   func() (*dataset.Result, error)
			}
			var runs []ingestRun
			if connector != "" {
				c, err := findConnector(ctx, m, connector)
				if err != nil {
					return err
				}
				if ds != "" && ds != c.Dataset {
					return fmt.Errorf("数据源连接 %s 写入数据集 %s，不是 %s", c.Name, c.Dataset, ds)
				}
				d, _ = dataset.Get(c.Dataset)
				runs = append(runs, ingestRun{"数据源连接 " + c.Name, func() (*dataset.Result, error) {
					return m.RunConnector(ctx, c.ID, dataset.ScheduleManual, nil, nil)
				}})
			}
			errOut := cmd.ErrOrStderr()
			for _, file := range args {
				runs = append(runs, ingestRun{file, func() (*dataset.Result, error) {
					return ingestFile(ctx, m, file, dataset.Options{Dataset: d.Name, Format: format, Encoding: encoding, Sheet: sheet, TaskName: task, Mapping: mapping}, errOut, quiet)
				}})
			}
			sum := &ingestSummary{Dataset: d.Name, Status: dataset.StatusCommitted}
			var failed []string
			for _, run := range runs {
				file := run.label
				res, err := run.run()
				if res == nil {
					res = &dataset.Result{Dataset: d.Name, Status: dataset.StatusFailed, Error: err.Error()}
				}
				sum.Runs = append(sum.Runs, res)
				sum.RunID = res.RunID
				sum.Read += res.Read
				sum.Upserted += res.Upserted
				sum.Unchanged += res.Unchanged
				sum.Quarantined += res.Quarantined
				sum.DurationMS += res.DurationMS
				if err != nil {
					sum.Status = dataset.StatusFailed
					failed = append(failed, fmt.Sprintf("%s：%v", file, err))
				}
				if !asJSON {
					printResult(cmd.OutOrStdout(), file, d, res)
				}
			}
			if len(failed) > 0 {
				sum.Error = strings.Join(failed, "；")
			}
			if asJSON {
				enc := json.NewEncoder(cmd.OutOrStdout())
				enc.SetEscapeHTML(false)
				enc.Encode(sum)
			}
			if len(failed) > 0 {
				return errors.New("导入失败：" + sum.Error)
			}
			return nil
		},
	}
	config.AddFlags(c.Flags())
	c.Flags().StringVar(&ds, "dataset", "", "数据集名称（必填）："+strings.Join(dataset.Names(), "、"))
	c.Flags().BoolVar(&asJSON, "json", false, "以一个 JSON 对象输出结果（read、upserted、unchanged、quarantined、run_id）")
	c.Flags().StringVar(&format, "format", "", "文件格式 csv|xlsx|json|ndjson（默认按扩展名和内容识别）")
	c.Flags().StringVar(&encoding, "encoding", "auto", "文本编码 auto|utf-8|gbk|gb18030|utf-16")
	c.Flags().StringVar(&sheet, "sheet", "", "Excel 工作表名称（默认第一个）")
	c.Flags().StringVar(&task, "task", "", "任务名称（默认“数据集导入：文件名”）")
	c.Flags().StringArrayVar(&maps, "map", nil, "列映射 源列名=字段名（可重复；字段名为 - 表示忽略该列）")
	c.Flags().BoolVar(&quiet, "quiet", false, "不显示进度")
	c.Flags().StringVar(&connector, "connector", "", "立即运行的数据源连接（名称或编号），代替文件")
	return c
}

// findConnector finds a data-source connector by name or number.
func findConnector(ctx context.Context, m *dataset.Module, nameOrID string) (*dataset.Connector, error) {
	list, err := m.Connectors(ctx)
	if err != nil {
		return nil, err
	}
	var names []string
	for i := range list {
		if list[i].Name == nameOrID || strconv.FormatInt(list[i].ID, 10) == nameOrID {
			return &list[i], nil
		}
		names = append(names, list[i].Name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("数据源连接 %q 不存在（尚未配置任何数据源连接）", nameOrID)
	}
	return nil, fmt.Errorf("数据源连接 %q 不存在，已配置：%s", nameOrID, strings.Join(names, "、"))
}

func ingestFile(ctx context.Context, m *dataset.Module, file string, o dataset.Options, errOut io.Writer, quiet bool) (*dataset.Result, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("无法打开文件：%w", err)
	}
	defer f.Close()
	if st, err := f.Stat(); err == nil {
		o.BytesTotal = st.Size()
	}
	o.SourceName = filepath.Base(file)
	o.Kind = dataset.KindFile
	p := &progressLine{w: errOut, name: o.SourceName, quiet: quiet, lines: !isTerminal(errOut), now: time.Now}
	o.Progress = p.update
	res, err := m.Ingest(ctx, f, o)
	p.done()
	return res, err
}

// progressLine shows the progress on stderr: bytes, percent and counts. On a terminal it
// redraws one line; into a file or pipe (cron, CI logs) it writes a whole line every few
// seconds instead of carriage returns.
type progressLine struct {
	w     io.Writer
	name  string
	quiet bool
	lines bool             // not a terminal: one line per progressEvery
	now   func() time.Time // the clock (tests)
	mu    sync.Mutex
	last  time.Time
	phase string // the last phase shown
	drawn bool
}

// progressEvery is the interval of progress lines written into a file or pipe.
const progressEvery = 5 * time.Second

func (p *progressLine) update(pr dataset.Progress) {
	if p.quiet {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	every, start, end := 200*time.Millisecond, "\r", "\x1b[K" // redraw, clearing what the last line left
	if p.lines {
		every, start, end = progressEvery, "", "\n"
	}
	if now := p.now(); now.Sub(p.last) >= every || pr.Phase != p.phase { // each new phase is shown
		p.last, p.phase = now, pr.Phase
	} else {
		return
	}
	pct := ""
	if pr.BytesTotal > 0 {
		pct = fmt.Sprintf(" %5.1f%% %s", float64(pr.BytesRead)*100/float64(pr.BytesTotal), bar(pr.BytesRead, pr.BytesTotal, 20))
	}
	phase := ""
	if pr.Phase != "" {
		phase = " · " + pr.Phase
	}
	fmt.Fprintf(p.w, "%s导入 %s%s  已读 %d 条：写入 %d，未变化 %d，隔离 %d%s%s", start, p.name, pct, pr.Read, pr.Upserted, pr.Unchanged, pr.Quarantined, phase, end)
	p.drawn = !p.lines
}

func (p *progressLine) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.drawn {
		fmt.Fprintln(p.w)
	}
}

// isTerminal reports whether w is a terminal (a character device).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func bar(n, total int64, width int) string {
	k := int(n * int64(width) / total)
	k = min(max(k, 0), width)
	return "[" + strings.Repeat("#", k) + strings.Repeat(".", width-k) + "]"
}

func printResult(w io.Writer, file string, d *dataset.Dataset, r *dataset.Result) {
	status := "已提交"
	if r.Status != dataset.StatusCommitted {
		status = "失败"
	}
	fmt.Fprintf(w, "%s → %s（运行 #%d）：%s\n", file, d.TitleZh, r.RunID, status)
	if r.Source != "" {
		fmt.Fprintf(w, "  来源格式：%s\n", r.Source)
	}
	fmt.Fprintf(w, "  读取 %d 条，写入 %d 条，未变化 %d 条，隔离 %d 条，用时 %.1f 秒\n", r.Read, r.Upserted, r.Unchanged, r.Quarantined, float64(r.DurationMS)/1000)
	for k, v := range r.Warnings {
		fmt.Fprintf(w, "  提示：%s %d 条\n", k, v)
	}
	for _, n := range r.Notes {
		fmt.Fprintf(w, "  说明：%s\n", n)
	}
	if r.Quarantined > 0 {
		fmt.Fprintf(w, "  隔离记录可在“数据治理 → 导入记录 → 运行 #%d”查看、更正并重放。\n", r.RunID)
	}
	if r.Error != "" {
		fmt.Fprintf(w, "  错误：%s\n", r.Error)
	}
}
