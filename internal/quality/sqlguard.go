package quality

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"unicode"
)

// Custom SQL (rule conditions, filters and failing-row queries) is checked before it is ever
// run, and then run read-only with a time limit (see readOnly). The check is a tokenizer, not a
// full parser: it accepts one expression or one SELECT/WITH query over the allowed tables and
// rejects everything else — common table expressions, several statements, statement keywords that write or change the
// session, placeholders, dollar quoting, functions outside an allow-list, and tables outside the
// datasets (catalog and schema tables included).

type sqlMode int

const (
	sqlCondition sqlMode = iota // a boolean expression over one dataset row (alias t)
	sqlQuery                    // a SELECT query
)

type tokKind int

const (
	tkIdent tokKind = iota
	tkQuoted
	tkString
	tkNumber
	tkPunct
)

type token struct {
	kind tokKind
	text string // identifiers upper-cased as written for keywords; quoted identifiers as is
	raw  string
}

func tokenize(s string) ([]token, error) {
	var out []token
	i := 0
	for i < len(s) {
		c := s[i]
		switch {
		case c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f':
			i++
		case c == '-' && i+1 < len(s) && s[i+1] == '-':
			for i < len(s) && s[i] != '\n' {
				i++
			}
		case c == '/' && i+1 < len(s) && s[i+1] == '*':
			j := strings.Index(s[i+2:], "*/")
			if j < 0 {
				return nil, errors.New("注释未结束")
			}
			i += j + 4
		case c == '\'':
			j := i + 1
			for {
				k := strings.IndexByte(s[j:], '\'')
				if k < 0 {
					return nil, errors.New("字符串缺少结束引号")
				}
				j += k + 1
				if j < len(s) && s[j] == '\'' {
					j++
					continue
				}
				break
			}
			out = append(out, token{kind: tkString, raw: s[i:j]})
			i = j
		case c == '"':
			k := strings.IndexByte(s[i+1:], '"')
			if k < 0 {
				return nil, errors.New("带引号的名称缺少结束引号")
			}
			name := s[i+1 : i+1+k]
			out = append(out, token{kind: tkQuoted, text: name, raw: s[i : i+2+k]})
			i += k + 2
		case c == '?' || c == '$' || c == '`' || c == '[' || c == ']' || c == '\\':
			return nil, fmt.Errorf("不允许使用字符 %q（参数占位符、美元引号与方括号名称均不支持）", c)
		case c == ';':
			return nil, errors.New("只能包含一条语句，不允许分号")
		case c >= '0' && c <= '9' || c == '.' && i+1 < len(s) && s[i+1] >= '0' && s[i+1] <= '9':
			j := i
			for j < len(s) && (s[j] >= '0' && s[j] <= '9' || s[j] == '.' || s[j] == 'e' || s[j] == 'E') {
				j++
			}
			out = append(out, token{kind: tkNumber, raw: s[i:j]})
			i = j
		case c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= 0x80:
			j := i
			for j < len(s) {
				r := rune(s[j])
				if s[j] >= 0x80 {
					return nil, errors.New("名称只能由英文字母、数字和下划线组成（中文请放在单引号字符串中）")
				}
				if !(r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r)) {
					break
				}
				j++
			}
			w := s[i:j]
			// E'…' escape strings could hide a quote from this tokenizer.
			if j < len(s) && s[j] == '\'' && (w == "E" || w == "e" || w == "U" || w == "u" || w == "B" || w == "b" || w == "X" || w == "x" || w == "N" || w == "n") {
				return nil, errors.New("不支持带前缀的字符串（如 E'…'）")
			}
			out = append(out, token{kind: tkIdent, text: strings.ToUpper(w), raw: w})
			i = j
		default:
			// operators and punctuation, one or two characters
			if i+1 < len(s) && strings.Contains("<> <= >= != || :: ->", s[i:i+2]) {
				if s[i:i+2] == "::" || s[i:i+2] == "->" {
					return nil, fmt.Errorf("不支持运算符 %s（请用 CAST）", s[i:i+2])
				}
				out = append(out, token{kind: tkPunct, text: s[i : i+2], raw: s[i : i+2]})
				i += 2
				continue
			}
			if !strings.ContainsRune("(),=<>+-*/%.|", rune(c)) {
				return nil, fmt.Errorf("不支持字符 %q", c)
			}
			out = append(out, token{kind: tkPunct, text: string(c), raw: string(c)})
			i++
		}
	}
	return out, nil
}

// forbidden are keywords that write, change the session or the schema, lock, or run other
// statements: none of them has a place in a read-only check.
var forbidden = map[string]bool{
	"INSERT": true, "UPDATE": true, "DELETE": true, "MERGE": true, "UPSERT": true, "TRUNCATE": true,
	"CREATE": true, "DROP": true, "ALTER": true, "RENAME": true, "GRANT": true, "REVOKE": true,
	"ATTACH": true, "DETACH": true, "PRAGMA": true, "VACUUM": true, "REINDEX": true, "ANALYZE": true,
	"COPY": true, "CALL": true, "DO": true, "EXECUTE": true, "PREPARE": true, "DEALLOCATE": true,
	"LISTEN": true, "NOTIFY": true, "UNLISTEN": true, "SET": true, "RESET": true, "LOCK": true,
	"EXPLAIN": true, "COMMENT": true, "SECURITY": true, "REFRESH": true, "INTO": true,
	"BEGIN": true, "COMMIT": true, "ROLLBACK": true, "SAVEPOINT": true, "RELEASE": true,
	"LOAD": true, "IMPORT": true, "CHECKPOINT": true, "CLUSTER": true, "DISCARD": true,
	"RETURNING": true, "CONFLICT": true, "TABLE": true,
	// WITH is refused too: a CTE named like a table would hide which table a name means.
	"WITH": true, "RECURSIVE": true,
}

// functions are the functions custom SQL may call (both databases have most of them).
var functions = map[string]bool{
	"ABS": true, "ROUND": true, "FLOOR": true, "CEIL": true, "CEILING": true, "LENGTH": true,
	"CHAR_LENGTH": true, "LOWER": true, "UPPER": true, "TRIM": true, "LTRIM": true, "RTRIM": true,
	"BTRIM": true, "SUBSTR": true, "SUBSTRING": true, "REPLACE": true, "INSTR": true, "STRPOS": true,
	"POSITION": true, "COALESCE": true, "NULLIF": true, "IFNULL": true, "MIN": true, "MAX": true,
	"SUM": true, "COUNT": true, "AVG": true, "CAST": true, "DATE": true, "DATETIME": true,
	"STRFTIME": true, "JULIANDAY": true, "TO_CHAR": true, "TO_DATE": true, "DATE_PART": true,
	"EXTRACT": true, "DATE_TRUNC": true, "NOW": true, "CONCAT": true, "LPAD": true, "RPAD": true,
	"LEFT": true, "RIGHT": true, "GREATEST": true, "LEAST": true, "SPLIT_PART": true, "IIF": true,
	"TYPEOF": true, "ZHSJ_USCC_VALID": true, "ZHSJ_ID_VALID": true, "ZHSJ_REGION_VALID": true,
	"ZHSJ_TODAY": true,
}

// keywordsBeforeParen may be followed by "(" without being a function call.
var keywordsBeforeParen = map[string]bool{
	"IN": true, "EXISTS": true, "ANY": true, "ALL": true, "SOME": true, "VALUES": true, "NOT": true,
	"AND": true, "OR": true, "AS": true, "OVER": true, "FILTER": true, "WITHIN": true, "ON": true,
	"USING": true, "FROM": true, "JOIN": true, "SELECT": true, "WHERE": true, "THEN": true,
	"ELSE": true, "WHEN": true, "BETWEEN": true, "LIKE": true, "IS": true, "BY": true,
	"HAVING": true, "LATERAL": true, "CASE": true, "UNION": true, "EXCEPT": true, "INTERSECT": true,
	"DISTINCT": true, "WITH": true, "RECURSIVE": true, "LIMIT": true, "OFFSET": true, "ESCAPE": true,
}

// fromEnd are the keywords that end a FROM list.
var fromEnd = map[string]bool{
	"WHERE": true, "GROUP": true, "HAVING": true, "ORDER": true, "LIMIT": true, "OFFSET": true,
	"UNION": true, "EXCEPT": true, "INTERSECT": true, "WINDOW": true, "FETCH": true, "ON": true, "USING": true,
}

// checkSQL accepts s as custom SQL of the given mode over the catalog's tables.
func checkSQL(s string, mode sqlMode, cat *Catalog) error {
	if strings.TrimSpace(s) == "" {
		return errors.New("SQL 为空")
	}
	if len(s) > maxSQLLen {
		return fmt.Errorf("SQL 超过 %d 个字符", maxSQLLen)
	}
	toks, err := tokenize(s)
	if err != nil {
		return err
	}
	if len(toks) == 0 {
		return errors.New("SQL 为空")
	}
	if mode == sqlQuery && (toks[0].kind != tkIdent || toks[0].text != "SELECT") {
		return errors.New("自定义查询须以 SELECT 开头")
	}
	allowed := map[string]bool{}
	for _, t := range cat.Tables() {
		allowed[strings.ToUpper(t)] = true
	}
	// Paren stack: true when the paren was opened by a function call (its FROM is not a table list).
	var parens []bool
	fromDepth := -1 // depth of the FROM list being read, -1 when none
	expectTable := false
	for i, t := range toks {
		up := t.text
		if t.kind == tkIdent {
			if forbidden[up] {
				return fmt.Errorf("不允许使用 %s：自定义规则只能读取数据", t.raw)
			}
			if up == "FOR" && i+1 < len(toks) && slices.Contains([]string{"UPDATE", "SHARE", "NO", "KEY"}, toks[i+1].text) {
				return errors.New("不允许加锁（FOR UPDATE/SHARE）")
			}
			if strings.HasPrefix(up, "PG_") || strings.HasPrefix(up, "SQLITE_") || up == "INFORMATION_SCHEMA" || strings.HasPrefix(up, "LO_") {
				return fmt.Errorf("不允许引用系统对象 %s", t.raw)
			}
		}
		if isName(t) && i+1 < len(toks) && toks[i+1].text == "(" && !expectTable {
			keyword := t.kind == tkIdent && keywordsBeforeParen[up]
			typeMod := i > 0 && toks[i-1].kind == tkIdent && toks[i-1].text == "AS" // CAST(x AS NUMERIC(10,2))
			if !keyword && !typeMod && !functions[nameOf(t)] {
				return fmt.Errorf("不允许调用函数 %s（可用函数：%s）", t.raw, allowedFunctionList())
			}
		}
		switch {
		case t.text == "(":
			fn := i > 0 && isName(toks[i-1]) && !(toks[i-1].kind == tkIdent && keywordsBeforeParen[toks[i-1].text])
			parens = append(parens, fn)
			if expectTable {
				expectTable = false // a subquery in FROM
			}
			continue
		case t.text == ")":
			if len(parens) == 0 {
				return errors.New("括号不匹配")
			}
			parens = parens[:len(parens)-1]
			if fromDepth > len(parens) {
				fromDepth = -1
			}
			continue
		}
		inFunc := len(parens) > 0 && parens[len(parens)-1]
		if t.kind == tkIdent && (up == "FROM" || up == "JOIN") && !inFunc {
			expectTable = true
			fromDepth = len(parens)
			continue
		}
		if t.kind == tkIdent && fromEnd[up] && fromDepth == len(parens) {
			fromDepth = -1
		}
		if t.text == "," && fromDepth == len(parens) && !inFunc {
			expectTable = true
			continue
		}
		if expectTable {
			if t.kind == tkIdent && (up == "LATERAL" || up == "ONLY") {
				continue
			}
			if !isName(t) {
				return fmt.Errorf("FROM/JOIN 后须为数据集表或子查询")
			}
			if i+1 < len(toks) && toks[i+1].text == "." {
				return fmt.Errorf("不允许引用其他模式中的表 %s", t.raw)
			}
			if !allowed[nameOf(t)] {
				return fmt.Errorf("只能引用数据集表（%s），不允许引用 %s", strings.Join(cat.Tables(), "、"), t.raw)
			}
			expectTable = false
		}
	}
	if len(parens) != 0 {
		return errors.New("括号不匹配")
	}
	if expectTable {
		return errors.New("FROM/JOIN 后缺少表名")
	}
	return nil
}

func isName(t token) bool { return t.kind == tkIdent || t.kind == tkQuoted }

func nameOf(t token) string {
	if t.kind == tkQuoted {
		return strings.ToUpper(t.text)
	}
	return t.text
}

func allowedFunctionList() string {
	var out []string
	for f := range functions {
		out = append(out, strings.ToLower(f))
	}
	slices.Sort(out)
	return strings.Join(out, ", ")
}

// referencedColumns returns the dataset's columns named in custom SQL (for the offending
// values kept with failed rows).
func referencedColumns(s string, ds *Dataset) []string {
	toks, err := tokenize(s)
	if err != nil {
		return nil
	}
	var out []string
	for _, t := range toks {
		if !isName(t) {
			continue
		}
		for _, c := range ds.Columns {
			if c.JSON != "" {
				continue // not a column custom SQL can name
			}
			if strings.EqualFold(c.Physical(), t.raw) || t.kind == tkQuoted && c.Physical() == t.text {
				if !slices.Contains(out, c.Name) && !c.Sealed {
					out = append(out, c.Name)
				}
			}
		}
	}
	return out
}
