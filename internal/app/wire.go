package app

import (
	"context"
	"io/fs"
	"sort"
)

// A wiring builds one domain module on the app: it constructs the module from the app's
// shared parts (DB, keys, audit, IAM, jobs, events, notify), registers its jobs, event
// subscriptions and demo seeders, and returns the module and its page templates.
//
// Each module wires itself in its own file internal/app/wire_<module>.go:
//
//	func init() { wire("dataset", 10, func(ctx context.Context, a *App) (module, fs.FS, error) { … }) }
//
// so that adding a module never edits a file another module also edits. Modules that have
// pages implement SetPages(*web.Pages), called once all templates are parsed.
type wiring struct {
	name  string
	order int
	build func(ctx context.Context, a *App) (module, fs.FS, error)
}

var wirings []wiring

// wire registers a module. order sorts modules that depend on others (lower first; the
// name breaks ties).
func wire(name string, order int, build func(ctx context.Context, a *App) (module, fs.FS, error)) {
	wirings = append(wirings, wiring{name: name, order: order, build: build})
}

func sortedWirings() []wiring {
	out := append([]wiring(nil), wirings...)
	sort.Slice(out, func(i, j int) bool {
		if out[i].order != out[j].order {
			return out[i].order < out[j].order
		}
		return out[i].name < out[j].name
	})
	return out
}
