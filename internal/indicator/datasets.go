package indicator

import (
	"zhsj/internal/dataset"
)

// TopicDatasets names the datasets only the topic libraries read; the data hub registers
// them (dataset/topics.go) and the demo fills them here.
var TopicDatasets = []string{"complaint", "special_equipment", "food_licence", "opinion"}

// Dataset returns the descriptor of a dataset of the data hub.
func Dataset(name string) (*dataset.Dataset, bool) { return dataset.Get(name) }

// Datasets returns every dataset indicators may read.
func Datasets() []*dataset.Dataset { return dataset.All() }

func datasetByTable(table string) (*dataset.Dataset, bool) {
	for _, d := range Datasets() {
		if d.Table == table {
			return d, true
		}
	}
	return nil, false
}
