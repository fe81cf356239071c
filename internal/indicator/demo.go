package indicator

import (
	"context"
	"fmt"

	"zhsj/internal/indicator/gen"
)

// SeedDemo fills the four topic datasets with demo rows (once: a dataset that has rows is left
// alone) and computes every indicator, so that the demo's dashboards open with numbers. The
// data hub's seeder fills its own datasets before this runs (wiring order).
func SeedDemo(ctx context.Context, s *Service, scale string) ([]string, error) {
	sizes := gen.Sizes{}
	for name, n := range gen.Demo {
		switch scale {
		case "medium":
			n *= 10
		case "large":
			n = gen.Large[name]
		}
		ds, _ := Dataset(name)
		var have int
		if err := s.db.Get(ctx, &have, "SELECT COUNT(*) FROM (SELECT 1 FROM "+ds.Table+" LIMIT 1) x"); err != nil {
			return nil, err
		}
		if have == 0 {
			sizes[name] = n
		}
	}
	var out []string
	if len(sizes) > 0 {
		if err := gen.Fill(ctx, s.db, sizes, gen.Options{Source: "demo"}); err != nil {
			return nil, err
		}
		for _, name := range TopicDatasets {
			if n, ok := sizes[name]; ok {
				ds, _ := Dataset(name)
				out = append(out, fmt.Sprintf("  %s：%d 条演示数据", ds.TitleZh, n))
			}
		}
	}
	rec, err := s.Compute(ctx, Unit{Kind: "full", Source: "seed"}, 0)
	if err != nil {
		return out, err
	}
	return append(out, fmt.Sprintf("  指标：全量计算完成，写入 %d 个指标值（%d ms）", rec.Cells, rec.DurationMS)), nil
}
