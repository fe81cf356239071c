package ops

import (
	"archive/tar"
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"zhsj/internal/gm"
)

// Backup kinds.
const (
	KindScheduled   = "scheduled"
	KindManual      = "manual"
	KindPreUpgrade  = "pre_upgrade"
	KindPreRollback = "pre_rollback"
	KindCLI         = "cli"
)

// KindLabels are the Chinese names of the backup kinds.
var KindLabels = map[string]string{
	KindScheduled: "定时备份", KindManual: "手动备份", KindPreUpgrade: "升级前自动备份",
	KindPreRollback: "回滚前自动备份", KindCLI: "命令行备份",
}

// Names of the files inside an archive.
const (
	manifestName = "manifest.json"
	sqliteName   = "zhsj.db"
	pgdumpName   = "zhsj.pgdump"
	keyName      = "secret.key"
)

// Manifest describes a backup archive; it is the archive's first entry.
type Manifest struct {
	Format         int         `json:"format"`
	App            string      `json:"app"`
	AppVersion     string      `json:"app_version"`
	SchemaVersion  int64       `json:"schema_version"`
	Dialect        string      `json:"dialect"`
	Kind           string      `json:"kind"`
	CreatedAt      time.Time   `json:"created_at"`
	CreatedBy      string      `json:"created_by"`
	Host           string      `json:"host"`
	KeyFingerprint string      `json:"key_fingerprint"` // identifies the master key without revealing it
	Files          []FileEntry `json:"files"`
	Tables         []TableStat `json:"tables"`
}

// FileEntry is one file of the archive with its SM3 checksum.
type FileEntry struct {
	Name string `json:"name"`
	Size int64  `json:"size"`
	SM3  string `json:"sm3"`
}

// Rows is the total number of rows in the backup.
func (m *Manifest) Rows() int64 {
	var n int64
	for _, t := range m.Tables {
		n += t.Rows
	}
	return n
}

func (m *Manifest) has(name string) bool {
	for _, f := range m.Files {
		if f.Name == name {
			return true
		}
	}
	return false
}

// keyFingerprint names a master key: 16 hex digits of SM3 over a fixed prefix and the key.
func keyFingerprint(key []byte) string {
	if len(key) == 0 {
		return ""
	}
	return hex.EncodeToString(gm.SM3(append([]byte("zhsj/key-fingerprint/"), key...)))[:16]
}

func fileSM3(path string) (string, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", 0, err
	}
	defer f.Close()
	h := gm.NewSM3()
	n, err := io.Copy(h, f)
	if err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), n, nil
}

// writeArchive writes manifest and files (archive name → local path) as a gzip'd tar at out.
// It writes out.part and renames it, so that a crash never leaves a half archive under the
// final name.
func writeArchive(out string, m *Manifest, files [][2]string) (err error) {
	m.Files = m.Files[:0]
	for _, f := range files {
		sum, size, err := fileSM3(f[1])
		if err != nil {
			return err
		}
		m.Files = append(m.Files, FileEntry{Name: f[0], Size: size, SM3: sum})
	}
	mj, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(out), 0o700); err != nil {
		return fmt.Errorf("创建备份目录失败: %w", err)
	}
	part := out + ".part"
	fh, err := os.OpenFile(part, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return fmt.Errorf("写入备份文件失败: %w", err)
	}
	defer func() {
		if err != nil {
			fh.Close()
			os.Remove(part)
		}
	}()
	gz, _ := gzip.NewWriterLevel(fh, gzip.BestSpeed)
	tw := tar.NewWriter(gz)
	now := time.Now()
	if err := tw.WriteHeader(&tar.Header{Name: manifestName, Mode: 0o600, Size: int64(len(mj)), ModTime: now, Typeflag: tar.TypeReg}); err != nil {
		return err
	}
	if _, err := tw.Write(mj); err != nil {
		return err
	}
	for i, f := range files {
		src, err := os.Open(f[1])
		if err != nil {
			return err
		}
		err = tw.WriteHeader(&tar.Header{Name: f[0], Mode: 0o600, Size: m.Files[i].Size, ModTime: now, Typeflag: tar.TypeReg})
		if err == nil {
			_, err = io.Copy(tw, src)
		}
		src.Close()
		if err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	if err := gz.Close(); err != nil {
		return err
	}
	if err := fh.Sync(); err != nil {
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	return os.Rename(part, out)
}

// ErrNotBackup means a file is not a zhsj backup archive.
var ErrNotBackup = errors.New("不是有效的智慧市监备份文件")

func openArchive(path string) (*tar.Reader, func(), *Manifest, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("打开备份文件失败: %w", err)
	}
	gz, err := gzip.NewReader(f)
	if err != nil {
		f.Close()
		return nil, nil, nil, fmt.Errorf("%w（%s）", ErrNotBackup, filepath.Base(path))
	}
	closer := func() { gz.Close(); f.Close() }
	tr := tar.NewReader(gz)
	h, err := tr.Next()
	if err != nil || h.Name != manifestName || h.Size > 64<<20 {
		closer()
		return nil, nil, nil, fmt.Errorf("%w（缺少 manifest.json）", ErrNotBackup)
	}
	var m Manifest
	if err := json.NewDecoder(io.LimitReader(tr, h.Size)).Decode(&m); err != nil || m.App != "zhsj" || m.Format != 1 {
		closer()
		return nil, nil, nil, fmt.Errorf("%w（清单无法识别）", ErrNotBackup)
	}
	return tr, closer, &m, nil
}

// ReadManifest reads only the manifest of an archive.
func ReadManifest(path string) (*Manifest, error) {
	_, closer, m, err := openArchive(path)
	if err != nil {
		return nil, err
	}
	closer()
	return m, nil
}

// extractArchive writes the archive's files into dir, checking each against the manifest's
// size and SM3, and returns the manifest. Unknown or missing files are errors.
func extractArchive(path, dir string) (*Manifest, error) {
	tr, closer, m, err := openArchive(path)
	if err != nil {
		return nil, err
	}
	defer closer()
	want := map[string]FileEntry{}
	for _, f := range m.Files {
		switch f.Name {
		case sqliteName, pgdumpName, keyName:
			want[f.Name] = f
		default:
			return nil, fmt.Errorf("%w（清单含未知文件 %q）", ErrNotBackup, f.Name)
		}
	}
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("备份文件已损坏: %w", err)
		}
		fe, ok := want[h.Name]
		if !ok || h.Typeflag != tar.TypeReg {
			return nil, fmt.Errorf("%w（含未知条目 %q）", ErrNotBackup, h.Name)
		}
		delete(want, h.Name)
		dst := filepath.Join(dir, h.Name)
		out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return nil, err
		}
		hs := gm.NewSM3()
		n, err := io.Copy(io.MultiWriter(out, hs), tr)
		if err == nil {
			err = out.Sync()
		}
		if cerr := out.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return nil, fmt.Errorf("解出 %s 失败: %w", h.Name, err)
		}
		if n != fe.Size || hex.EncodeToString(hs.Sum(nil)) != fe.SM3 {
			return nil, fmt.Errorf("备份文件校验失败：%s 的 SM3 校验值或大小与清单不符（文件被修改或损坏）", h.Name)
		}
	}
	for n := range want {
		return nil, fmt.Errorf("备份文件不完整：缺少 %s", n)
	}
	return m, nil
}
