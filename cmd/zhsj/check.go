package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"zhsj/internal/audit"
	"zhsj/internal/config"
	"zhsj/internal/quality"
	"zhsj/internal/web"
)

func init() { extraCommands = append(extraCommands, checkCmd) }

// checkJSON is the --json output: one object with the per-rule counts.
type checkJSON struct {
	RunID  int64           `json:"run_id"`
	Status string          `json:"status"` // passed | failed
	Score  *float64        `json:"score"`
	Passed int             `json:"passed"`
	Failed int             `json:"failed"`
	Errors int             `json:"errors"`
	Rules  []checkJSONRule `json:"rules"`
}

type checkJSONRule struct {
	Rule      string   `json:"rule"`
	Name      string   `json:"name"`
	Dataset   string   `json:"dataset"`
	Dimension string   `json:"dimension"`
	Checked   int64    `json:"checked"`
	Failed    int64    `json:"failed"`
	PassRate  *float64 `json:"pass_rate"`
	Threshold float64  `json:"threshold"`
	Status    string   `json:"status"` // pass | fail | error
	Message   string   `json:"message,omitempty"`
}

func checkCmd() *cobra.Command {
	var datasetName, rule string
	var asJSON bool
	c := &cobra.Command{
		Use:   "check",
		Short: "执行数据质量核查：zhsj check [--dataset 名称] [--rule 代码] [--json]；有规则未达阈值或执行出错时退出码非 0",
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := context.Background()
			a, err := openApp(ctx, cmd)
			if err != nil {
				return err
			}
			defer a.DB.Close()
			q := a.Quality()
			if datasetName != "" {
				if _, ok := q.Catalog().Get(datasetName); !ok {
					var names []string
					for _, d := range q.Catalog().Datasets {
						names = append(names, d.Name)
					}
					return fmt.Errorf("数据集 %q 不存在（可选：%v）", datasetName, names)
				}
			}
			who := "cli"
			if u := os.Getenv("USER"); u != "" {
				who = "cli:" + u
			}
			entry := audit.Entry{Kind: audit.KindOperation, Actor: who, Action: "quality.run.execute", Result: audit.ResultSuccess}
			run, results, err := q.Execute(ctx, quality.RunOptions{Dataset: datasetName, Rule: rule, Trigger: quality.TriggerCLI, Actor: who, Audit: &entry})
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if asJSON {
				j := checkJSON{RunID: run.ID, Status: run.Status, Score: run.Score, Passed: run.RulesPassed, Failed: run.RulesFailed, Errors: run.RulesError}
				for _, r := range results {
					j.Rules = append(j.Rules, checkJSONRule{Rule: r.RuleCode, Name: r.RuleName, Dataset: r.Dataset, Dimension: r.Dimension,
						Checked: r.Checked, Failed: r.Failed, PassRate: r.PassRate, Threshold: r.Threshold, Status: r.Status, Message: r.Message})
				}
				enc := json.NewEncoder(out)
				enc.SetEscapeHTML(false)
				if err := enc.Encode(j); err != nil {
					return err
				}
			} else {
				score := "—"
				if run.Score != nil {
					score = fmt.Sprintf("%.2f", *run.Score)
				}
				fmt.Fprintf(out, "数据质量核查 #%d（%s）：%d 条规则，通过 %d，未达阈值 %d，出错 %d；综合得分 %s\n", run.ID,
					run.StartedAt.In(web.Shanghai()).Format("2006-01-02 15:04:05"), run.RulesTotal, run.RulesPassed, run.RulesFailed, run.RulesError, score)
				titles := map[string]string{}
				for _, d := range q.Catalog().Datasets {
					titles[d.Name] = d.Title
				}
				for _, r := range results {
					tag := map[string]string{quality.StatusPass: "通过", quality.StatusFail: "未达阈值", quality.StatusError: "出错"}[r.Status]
					rate := "—"
					if r.PassRate != nil {
						rate = fmt.Sprintf("%.2f%%", *r.PassRate)
					}
					fmt.Fprintf(out, "  [%s] %s %s（%s）：核查 %d，不合格 %d，合格率 %s（阈值 %g%%）", tag, r.RuleCode, r.RuleName, titles[r.Dataset],
						r.Checked, r.Failed, rate, r.Threshold)
					if r.Message != "" {
						fmt.Fprintf(out, "；%s", r.Message)
					}
					fmt.Fprintln(out)
				}
			}
			if run.RulesFailed+run.RulesError > 0 {
				// stdout stays one JSON object with --json; the message goes to stderr, the exit status is 1.
				return errCheckFailed{failed: run.RulesFailed, errors: run.RulesError}
			}
			return nil
		},
	}
	config.AddFlags(c.Flags())
	c.Flags().StringVar(&datasetName, "dataset", "", "只核查该数据集的规则（如 enterprise）")
	c.Flags().StringVar(&rule, "rule", "", "只执行该规则（规则代码；停用的规则也可单独执行）")
	c.Flags().BoolVar(&asJSON, "json", false, "输出一个 JSON 对象（含每条规则的 checked 与 failed）")
	return c
}

type errCheckFailed struct{ failed, errors int }

func (e errCheckFailed) Error() string {
	return fmt.Sprintf("数据质量核查未通过：%d 条规则未达阈值，%d 条规则执行出错", e.failed, e.errors)
}
