package ir

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"

	"github.com/grcc/grcc/parser"
)

// reader decodes entries of the syntax tree into settings, collecting
// diagnostics instead of stopping at the first one.
type reader struct {
	errs parser.ErrorList
}

func (r *reader) errorf(pos parser.Position, format string, args ...any) {
	r.errs.Add(pos, format, args...)
}

// fieldSet checks the entries of a block against the keys it allows, reports
// unknown and repeated keys (with a suggestion when one is close), and
// returns the entries by key. Keys listed in repeatable may occur more than
// once and are returned in order by the caller walking the list itself.
func (r *reader) fieldSet(where string, entries []*parser.Entry, allowed []string, repeatable ...string) map[string]*parser.Entry {
	out := map[string]*parser.Entry{}
	for _, e := range entries {
		if !contains(allowed, e.Key) {
			msg := fmt.Sprintf("unknown field %q in %s", e.Key, where)
			if s := suggest(e.Key, allowed); s != "" {
				msg += fmt.Sprintf("; did you mean %q?", s)
			}
			r.errorf(e.Pos, "%s", msg)
			continue
		}
		if contains(repeatable, e.Key) {
			continue
		}
		if prev, dup := out[e.Key]; dup {
			r.errorf(e.Pos, "%s: %q set twice (first at line %d)", where, e.Key, prev.Pos.Line)
			continue
		}
		out[e.Key] = e
	}
	return out
}

// setting makes sure e is "key = value" and returns the value.
func (r *reader) setting(e *parser.Entry) (*parser.Value, bool) {
	switch {
	case e.Name != nil:
		r.errorf(e.Pos, "%q takes a value (%s = ...), not a name", e.Key, e.Key)
	case e.Block != nil:
		r.errorf(e.Pos, "%q takes a value (%s = ...), not a block", e.Key, e.Key)
	case e.Value == nil:
		r.errorf(e.Pos, "%q needs a value: %s = ...", e.Key, e.Key)
	default:
		return e.Value, true
	}
	return nil, false
}

// block makes sure e is "key { ... }" (or `key "name" { ... }` when named) and returns its entries.
func (r *reader) block(e *parser.Entry, named bool) ([]*parser.Entry, bool) {
	switch {
	case e.Value != nil:
		r.errorf(e.Pos, "%q is a block (%s { ... }), not a setting", e.Key, e.Key)
		return nil, false
	case named && e.Name == nil:
		r.errorf(e.Pos, "%s needs a name: %s \"name\" { ... }", e.Key, e.Key)
		return nil, false
	case !named && e.Name != nil:
		r.errorf(e.Pos, "%s takes no name", e.Key)
		return nil, false
	case e.Block == nil:
		return nil, true
	}
	return e.Block.Entries, true
}

func describe(v *parser.Value) string {
	switch {
	case v.Number != nil:
		return *v.Number
	case v.String != nil:
		return *v.String
	case v.Ident != nil:
		return *v.Ident
	case v.List != nil:
		return fmt.Sprintf("a list of %d", len(v.List.Items))
	}
	return "nothing"
}

// integer decodes a whole number.
func (r *reader) integer(key string, v *parser.Value) (int, bool) {
	if v.Number != nil {
		n, err := strconv.ParseInt(*v.Number, 10, 32)
		if err == nil {
			return int(n), true
		}
		if errors.Is(err, strconv.ErrRange) {
			r.errorf(v.Pos, "%s: %s is too large", key, *v.Number)
			return 0, false
		}
	}
	r.errorf(v.Pos, "%s: want an integer, got %s", key, describe(v))
	return 0, false
}

// positive decodes a whole number greater than zero.
func (r *reader) positive(key string, v *parser.Value) (int, bool) {
	n, ok := r.integer(key, v)
	if ok && n <= 0 {
		r.errorf(v.Pos, "%s must be positive, got %d", key, n)
		return 0, false
	}
	return n, ok
}

// nonNegative decodes a whole number of zero or more.
func (r *reader) nonNegative(key string, v *parser.Value) (int, bool) {
	n, ok := r.integer(key, v)
	if ok && n < 0 {
		r.errorf(v.Pos, "%s must not be negative, got %d", key, n)
		return 0, false
	}
	return n, ok
}

// pair decodes n or [h, w] (both checked by one) into a height and a width.
func (r *reader) pair(key string, v *parser.Value, one func(string, *parser.Value) (int, bool)) ([2]int, bool) {
	if v.List == nil {
		n, ok := one(key, v)
		return [2]int{n, n}, ok
	}
	if len(v.List.Items) != 2 {
		r.errorf(v.Pos, "%s: want a number or [height, width], got a list of %d", key, len(v.List.Items))
		return [2]int{}, false
	}
	h, ok1 := one(key, v.List.Items[0])
	w, ok2 := one(key, v.List.Items[1])
	return [2]int{h, w}, ok1 && ok2
}

func (r *reader) float(key string, v *parser.Value) (float64, bool) {
	if v.Number != nil {
		f, err := strconv.ParseFloat(*v.Number, 64)
		if err == nil && !math.IsInf(f, 0) && !math.IsNaN(f) {
			return f, true
		}
	}
	r.errorf(v.Pos, "%s: want a number, got %s", key, describe(v))
	return 0, false
}

func (r *reader) boolean(key string, v *parser.Value) (bool, bool) {
	if v.Ident != nil {
		switch *v.Ident {
		case "true":
			return true, true
		case "false":
			return false, true
		}
	}
	r.errorf(v.Pos, "%s: want true or false, got %s", key, describe(v))
	return false, false
}

// word decodes one of a fixed set of bare words.
func (r *reader) word(key string, v *parser.Value, allowed []string) (string, bool) {
	if v.Ident != nil && contains(allowed, *v.Ident) {
		return *v.Ident, true
	}
	msg := fmt.Sprintf("%s: want one of %s, got %s", key, strings.Join(allowed, ", "), describe(v))
	if v.Ident != nil {
		if s := suggest(*v.Ident, allowed); s != "" {
			msg += fmt.Sprintf("; did you mean %q?", s)
		}
	}
	r.errorf(v.Pos, "%s", msg)
	return "", false
}

// misspelled reports whether one of entries has an unknown key that suggest
// would correct to key: the "unknown field" diagnostic already covers a
// missing key then.
func misspelled(entries []*parser.Entry, allowed []string, key string) bool {
	for _, e := range entries {
		if !contains(allowed, e.Key) && suggest(e.Key, allowed) == key {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Suggest returns the allowed word closest to s when it is close enough to
// be a likely typo, else "". The command line uses it for command names too.
func Suggest(s string, allowed []string) string { return suggest(s, allowed) }

// suggest is Suggest, under the name the checker uses.
func suggest(s string, allowed []string) string {
	sorted := append([]string(nil), allowed...)
	sort.Strings(sorted)
	best, bestDist := "", len(s)+1
	for _, a := range sorted {
		if d := editDistance(s, a); d < bestDist {
			best, bestDist = a, d
		}
	}
	limit := max(2, len(s)/3)
	if len(s) <= 3 {
		limit = 1
	}
	if bestDist > limit {
		return ""
	}
	return best
}

// editDistance is the Levenshtein distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
