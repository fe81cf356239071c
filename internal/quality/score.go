package quality

import (
	"math"
	"sort"

	"zhsj/internal/dataset/validate"
)

// Scoring (GB/T 36344 defines the indicators, not how to combine them; this is the choice made
// here): a rule's score is its pass rate; a dimension's score is the mean of its rules'
// scores; a dataset's, a region's and the overall score are the weighted mean of the dimension
// scores present, with weights from the settings (equal by default). Rules in error or that
// checked nothing do not count.

// Scores are the scores of a set of results, 0–100.
type Scores struct {
	Overall    *float64           `json:"overall"`
	Dimensions map[string]float64 `json:"dimensions"`
	Datasets   map[string]float64 `json:"datasets"`
}

type scoreItem struct {
	dimension, dataset string
	rate               float64
}

func weighted(items []scoreItem, weights map[string]float64) (*float64, map[string]float64) {
	sum, n := map[string]float64{}, map[string]int{}
	for _, it := range items {
		sum[it.dimension] += it.rate
		n[it.dimension]++
	}
	dims := map[string]float64{}
	var total, wsum float64
	for d, s := range sum {
		mean := s / float64(n[d])
		dims[d] = round2(mean)
		w, ok := weights[d]
		if !ok {
			w = 1
		}
		total += w * mean
		wsum += w
	}
	if wsum == 0 {
		return nil, dims
	}
	v := round2(total / wsum)
	return &v, dims
}

func round2(v float64) float64 { return math.Round(v*100) / 100 }

// Score scores results.
func Score(results []*Result, weights map[string]float64) Scores {
	var items []scoreItem
	byDS := map[string][]scoreItem{}
	for _, r := range results {
		if r.Status == StatusError || r.PassRate == nil {
			continue
		}
		it := scoreItem{r.Dimension, r.Dataset, *r.PassRate}
		items = append(items, it)
		byDS[r.Dataset] = append(byDS[r.Dataset], it)
	}
	s := Scores{Datasets: map[string]float64{}}
	s.Overall, s.Dimensions = weighted(items, weights)
	for ds, its := range byDS {
		if v, _ := weighted(its, weights); v != nil {
			s.Datasets[ds] = *v
		}
	}
	return s
}

// RegionScore is the score of one reporting unit.
type RegionScore struct {
	Unit    string  `json:"unit"`
	Name    string  `json:"name"`
	Score   float64 `json:"score"`
	Checked int64   `json:"checked"`
	Failed  int64   `json:"failed"`
}

// regionScores scores each reporting unit (the 12 地市 units; codes outside them count under
// their own code) from per-region counts: regional[resultIndex][region] = {checked, failed}.
func regionScores(results []*Result, regional []map[string][2]int64, weights map[string]float64) []RegionScore {
	type acc struct{ checked, failed int64 }
	perUnit := map[string][]scoreItem{}
	totals := map[string]*acc{}
	for i, r := range results {
		if r.Status == StatusError || !r.Regional {
			continue
		}
		units := map[string]*acc{}
		for code, c := range regional[i] {
			u := validate.ReportingUnit(code)
			if u == "" {
				u = code
			}
			if units[u] == nil {
				units[u] = &acc{}
			}
			units[u].checked += c[0]
			units[u].failed += c[1]
		}
		for u, a := range units {
			if a.checked == 0 {
				continue
			}
			rate := float64(a.checked-a.failed) / float64(a.checked) * 100
			perUnit[u] = append(perUnit[u], scoreItem{r.Dimension, r.Dataset, rate})
			if totals[u] == nil {
				totals[u] = &acc{}
			}
			totals[u].checked += a.checked
			totals[u].failed += a.failed
		}
	}
	var out []RegionScore
	for u, items := range perUnit {
		v, _ := weighted(items, weights)
		if v == nil {
			continue
		}
		name := validate.ReportingUnitName(u)
		if name == "" {
			name = validate.RegionName(u)
		}
		if name == "" {
			name = u
		}
		out = append(out, RegionScore{Unit: u, Name: name, Score: *v, Checked: totals[u].checked, Failed: totals[u].failed})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Unit < out[j].Unit })
	return out
}
