package desk

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"time"

	"zhsj/internal/audit"
	"zhsj/internal/iam"
	"zhsj/internal/store"
	"zhsj/internal/web"
)

// Training is one training session (培训服务).
type Training struct {
	ID        int64     `db:"id" json:"id"`
	Title     string    `db:"title" json:"title"`
	HeldAt    time.Time `db:"held_at" json:"held_at"`
	Audience  string    `db:"audience" json:"audience"`
	Mode      string    `db:"mode" json:"mode"`
	Location  string    `db:"location" json:"location"`
	Trainer   string    `db:"trainer" json:"trainer"`
	Materials string    `db:"materials" json:"materials"`
	Planned   int       `db:"planned" json:"planned"`
	Attendees int       `db:"attendees" json:"attendees"`
	Notes     string    `db:"notes" json:"notes"`
	Author    string    `db:"author" json:"author"`
	CreatedAt time.Time `db:"created_at" json:"created_at"`
}

// AudienceNames follow the procurement's two kinds of trainees.
var AudienceNames = map[string]string{
	"operator": "系统操作员（业务管理员、软件实施维护人员）",
	"admin":    "系统管理员（系统管理员、数据库管理员）",
}

// ModeNames are the Chinese names of training modes.
var ModeNames = map[string]string{"offline": "线下", "online": "线上远程"}

// AudienceName and ModeName are the Chinese names.
func (t Training) AudienceName() string { return AudienceNames[t.Audience] }
func (t Training) ModeName() string     { return ModeNames[t.Mode] }

// Rate is the attendance rate in percent (0 when nobody was planned).
func (t Training) Rate() float64 {
	if t.Planned <= 0 {
		return 0
	}
	return round1(float64(t.Attendees) * 100 / float64(t.Planned))
}

const trainingCols = `id, title, held_at, audience, mode, location, trainer, materials, planned, attendees, notes, author, created_at`

// TrainingInput creates or edits a training record.
type TrainingInput struct {
	Title     string `json:"title"`
	HeldAt    string `json:"held_at"` // RFC 3339, or "2006-01-02T15:04" / "2006-01-02 15:04" in Asia/Shanghai
	Audience  string `json:"audience"`
	Mode      string `json:"mode"`
	Location  string `json:"location"`
	Trainer   string `json:"trainer"`
	Materials string `json:"materials"`
	Planned   int    `json:"planned"`
	Attendees int    `json:"attendees"`
	Notes     string `json:"notes"`

	held time.Time
}

// parseWhen reads a time given with a zone, or as a Shanghai wall-clock time or date.
func parseWhen(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, true
	}
	for _, layout := range []string{"2006-01-02T15:04", "2006-01-02 15:04", "2006-01-02T15:04:05", "2006-01-02 15:04:05", time.DateOnly} {
		if t, err := time.ParseInLocation(layout, s, shanghai()); err == nil {
			return t, true
		}
	}
	return time.Time{}, false
}

func (in *TrainingInput) normalize() error {
	in.Title = strings.TrimSpace(in.Title)
	if in.Title == "" {
		return badRequest("missing_title", "请填写培训主题")
	}
	if strings.TrimSpace(in.HeldAt) == "" {
		return badRequest("missing_held_at", "请填写培训时间")
	}
	held, ok := parseWhen(in.HeldAt)
	if !ok {
		return badRequest("bad_held_at", "培训时间 %q 无效，应形如 2026-03-05 14:00", in.HeldAt)
	}
	in.held = held.UTC().Truncate(time.Millisecond)
	if _, ok := AudienceNames[in.Audience]; !ok {
		return badRequest("bad_audience", "培训对象只能是 operator（系统操作员）或 admin（系统管理员）")
	}
	if in.Mode == "" {
		in.Mode = "offline"
	}
	if _, ok := ModeNames[in.Mode]; !ok {
		return badRequest("bad_mode", "培训形式只能是 offline（线下）或 online（线上远程）")
	}
	if in.Planned < 0 || in.Attendees < 0 || in.Planned > 100000 || in.Attendees > 100000 {
		return badRequest("bad_count", "应到与实到人数须为 0–100000 的整数")
	}
	if in.Planned > 0 && in.Attendees > in.Planned {
		return badRequest("bad_count", "实到人数（%d）不能多于应到人数（%d）", in.Attendees, in.Planned)
	}
	for _, f := range []struct {
		label, v string
		max      int
	}{{"主题", in.Title, 200}, {"地点", in.Location, 200}, {"讲师", in.Trainer, 100}, {"培训材料", in.Materials, 4000}, {"备注", in.Notes, 4000}} {
		if err := checkLen(f.label, f.v, f.max); err != nil {
			return err
		}
	}
	return nil
}

// SaveTraining creates (id 0) or updates a training record.
func (d *Desk) SaveTraining(ctx context.Context, r *http.Request, p *iam.Principal, id int64, in TrainingInput) (int64, error) {
	if err := in.normalize(); err != nil {
		return 0, err
	}
	err := d.db.InTx(ctx, func(tx *store.Tx) error {
		now := d.Now()
		a := actor{p: p, r: r}
		held := in.held
		if id == 0 {
			var err error
			id, err = store.InsertID(ctx, tx, `INSERT INTO desk_trainings(title, held_at, audience, mode, location, trainer, materials, planned, attendees,
				notes, author, created_by, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
				in.Title, held, in.Audience, in.Mode, in.Location, in.Trainer, in.Materials, in.Planned, in.Attendees, in.Notes, a.name(), a.id(), now, now)
			if err != nil {
				return err
			}
		} else {
			res, err := tx.Exec(ctx, `UPDATE desk_trainings SET title = ?, held_at = ?, audience = ?, mode = ?, location = ?, trainer = ?, materials = ?,
				planned = ?, attendees = ?, notes = ?, updated_at = ? WHERE id = ?`,
				in.Title, held, in.Audience, in.Mode, in.Location, in.Trainer, in.Materials, in.Planned, in.Attendees, in.Notes, now, id)
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n == 0 {
				return web.ErrNotFound
			}
		}
		return d.record(ctx, tx, r, audit.Entry{Action: "desk.training.save", ObjectType: "desk_training", ObjectID: fmt.Sprint(id),
			Detail: fmt.Sprintf("保存培训记录「%s」（%s，实到 %d / 应到 %d）", in.Title, held.In(shanghai()).Format("2006-01-02"), in.Attendees, in.Planned)})
	})
	return id, err
}

// Trainings lists training sessions held in [from, to), newest first.
func (d *Desk) Trainings(ctx context.Context, from, to time.Time) ([]Training, error) {
	out := []Training{}
	err := d.db.Select(ctx, &out, `SELECT `+trainingCols+` FROM desk_trainings WHERE held_at >= ? AND held_at < ? ORDER BY held_at DESC, id DESC`, from, to)
	return out, err
}

// GetTraining returns one training record.
func (d *Desk) GetTraining(ctx context.Context, id int64) (*Training, error) {
	var t Training
	if err := d.db.Get(ctx, &t, `SELECT `+trainingCols+` FROM desk_trainings WHERE id = ?`, id); err != nil {
		if errors.Is(err, store.ErrNotFound) {
			return nil, web.ErrNotFound
		}
		return nil, err
	}
	return &t, nil
}

func round1(f float64) float64 {
	if f < 0 {
		return -round1(-f)
	}
	return float64(int64(f*10+0.5)) / 10
}
