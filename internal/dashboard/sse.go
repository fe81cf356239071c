package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"zhsj/internal/indicator"
)

// Live updates. Values change in whichever instance runs the indicator job; every instance
// learns of it by polling one row (ind_state, bumped in each transaction that writes values)
// twice a second while it has open streams, and tells its streams. One poller per process,
// whatever the number of open pages.

const (
	pollEvery    = 500 * time.Millisecond
	pingEvery    = 15 * time.Second
	streamMaxAge = 10 * time.Minute // the browser reconnects, re-checking the session
)

type hub struct {
	ind     *indicator.Service
	mu      sync.Mutex
	subs    map[chan int64]struct{}
	running bool
	version int64
}

func newHub(ind *indicator.Service) *hub { return &hub{ind: ind, subs: map[chan int64]struct{}{}} }

// subscribe returns a channel receiving the new version after each change.
func (h *hub) subscribe() (chan int64, func()) {
	ch := make(chan int64, 1)
	h.mu.Lock()
	h.subs[ch] = struct{}{}
	if !h.running {
		h.running = true
		v, _, err := h.ind.StateVersion(context.Background())
		if err == nil {
			h.version = v
		}
		go h.loop()
	}
	h.mu.Unlock()
	return ch, func() {
		h.mu.Lock()
		delete(h.subs, ch)
		h.mu.Unlock()
	}
}

func (h *hub) loop() {
	t := time.NewTicker(pollEvery)
	defer t.Stop()
	for range t.C {
		h.mu.Lock()
		if len(h.subs) == 0 {
			h.running = false
			h.mu.Unlock()
			return
		}
		h.mu.Unlock()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		v, _, err := h.ind.StateVersion(ctx)
		cancel()
		if err != nil {
			continue
		}
		h.mu.Lock()
		if v != h.version {
			h.version = v
			for ch := range h.subs {
				select {
				case ch <- v:
				default: // a pending notice is as good as two
				}
			}
		}
		h.mu.Unlock()
	}
}

// stream is the text/event-stream endpoint: "update" events carry the values version.
func (m *Module) stream(w http.ResponseWriter, r *http.Request) {
	rc := http.NewResponseController(w)
	// The server's write timeout would cut a long-lived stream: lift it for this response.
	_ = rc.SetWriteDeadline(time.Time{})
	h := w.Header()
	h.Set("Content-Type", "text/event-stream; charset=utf-8")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ch, done := m.hub.subscribe()
	defer done()
	m.hub.mu.Lock()
	v := m.hub.version
	m.hub.mu.Unlock()
	if _, err := fmt.Fprintf(w, "retry: 2000\nevent: hello\ndata: {\"version\":%d}\n\n", v); err != nil {
		return
	}
	if rc.Flush() != nil {
		return
	}
	ping := time.NewTicker(pingEvery)
	defer ping.Stop()
	end := time.NewTimer(streamMaxAge)
	defer end.Stop()
	for {
		select {
		case <-r.Context().Done():
			return
		case <-end.C:
			return
		case v := <-ch:
			if _, err := fmt.Fprintf(w, "event: update\ndata: {\"version\":%d}\n\n", v); err != nil {
				return
			}
		case <-ping.C:
			if _, err := fmt.Fprint(w, ": ping\n\n"); err != nil {
				return
			}
		}
		if rc.Flush() != nil {
			return
		}
	}
}
