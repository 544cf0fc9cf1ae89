package torch

import (
	"bytes"
	"fmt"
	"strconv"
	"strings"
)

// maxLine is the line length the emitter aims for (black's default).
const maxLine = 88

// writer builds Python source line by line with four-space indentation.
type writer struct {
	buf    bytes.Buffer
	indent int
}

// line writes one line at the current indentation; an empty format writes a blank line.
func (w *writer) line(format string, args ...any) {
	if format == "" {
		w.buf.WriteByte('\n')
		return
	}
	w.buf.WriteString(strings.Repeat("    ", w.indent))
	fmt.Fprintf(&w.buf, format, args...)
	w.buf.WriteByte('\n')
}

// comment writes text as "# " comment lines, wrapped at maxLine.
func (w *writer) comment(text string) {
	prefix := strings.Repeat("    ", w.indent) + "#"
	line := prefix
	for _, word := range strings.Fields(text) {
		if len(line)+1+len(word) > maxLine && line != prefix {
			w.buf.WriteString(line + "\n")
			line = prefix
		}
		line += " " + word
	}
	w.buf.WriteString(line + "\n")
}

// block writes header (ending in a colon), then body one level deeper.
func (w *writer) block(header string, body func()) {
	w.line("%s", header)
	w.indent++
	body()
	w.indent--
}

// assign writes "lhs = e", breaking e over several lines when it does not fit.
func (w *writer) assign(lhs string, e expr) {
	prefix := strings.Repeat("    ", w.indent) + lhs + " = "
	for _, l := range e.format(prefix, w.indent) {
		w.buf.WriteString(l)
		w.buf.WriteByte('\n')
	}
}

// expr is a Python expression that the emitter may break over lines: an
// atom, or a call (or a bracketed display) whose arguments are expressions.
type expr struct {
	atom string // the text of an atom; empty for a call

	open, close string // "nn.Sequential(" and ")", or "{" and "}"
	args        []arg
}

// arg is one argument of a call: an optional keyword (or dict key, written
// with its colon) and a value.
type arg struct {
	key string // "bias=" or `"conv1": `, written before the value
	val expr
}

func atom(format string, args ...any) expr { return expr{atom: fmt.Sprintf(format, args...)} }

// call builds fn(args...), each argument an expr or a kw keyword argument.
func call(fn string, args ...any) expr {
	e := expr{open: fn + "(", close: ")"}
	for _, a := range args {
		switch a := a.(type) {
		case expr:
			e.args = append(e.args, arg{val: a})
		case arg:
			e.args = append(e.args, a)
		case string:
			e.args = append(e.args, arg{val: atom("%s", a)})
		case int:
			e.args = append(e.args, arg{val: atom("%d", a)})
		default:
			panic(fmt.Sprintf("torch: call argument of type %T", a))
		}
	}
	return e
}

// kw is the keyword argument name=val; val is an expr, a string of Python
// source or an int.
func kw(name string, val any) arg {
	switch v := val.(type) {
	case expr:
		return arg{key: name + "=", val: v}
	case string:
		return arg{key: name + "=", val: atom("%s", v)}
	case int:
		return arg{key: name + "=", val: atom("%d", v)}
	case bool:
		return arg{key: name + "=", val: atom("%s", pyBool(v))}
	}
	panic(fmt.Sprintf("torch: keyword value of type %T", val))
}

// flat is the expression on one line.
func (e expr) flat() string {
	if e.open == "" {
		return e.atom
	}
	var b strings.Builder
	b.WriteString(e.open)
	for i, a := range e.args {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString(a.key)
		b.WriteString(a.val.flat())
	}
	b.WriteString(e.close)
	return b.String()
}

// format lays the expression out after prefix (which already holds the
// indentation of level indent), in the first of these that fits maxLine:
// one line; the arguments together on one continuation line; one argument
// a line with a trailing comma, nested calls laid out the same way.
func (e expr) format(prefix string, indent int) []string {
	one := prefix + e.flat()
	if e.open == "" || len(one) <= maxLine {
		return []string{one}
	}
	inner := strings.Repeat("    ", indent+1)
	closing := strings.Repeat("    ", indent) + e.close
	flatArgs := make([]string, len(e.args))
	for i, a := range e.args {
		flatArgs[i] = a.key + a.val.flat()
	}
	if joined := inner + strings.Join(flatArgs, ", "); len(joined) <= maxLine {
		return []string{prefix + e.open, joined, closing}
	}
	lines := []string{prefix + e.open}
	for _, a := range e.args {
		sub := a.val.format(inner+a.key, indent+1)
		sub[len(sub)-1] += ","
		lines = append(lines, sub...)
	}
	return append(lines, closing)
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}

// pyFloat writes f so that Python reads back the same float64.
func pyFloat(f float64) string {
	s := strconv.FormatFloat(f, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") {
		s += ".0"
	}
	return s
}

// pyString quotes s as a Python string literal; checkpoint names hold only
// letters, digits and underscores, so a plain double-quoted string is enough.
func pyString(s string) string { return `"` + s + `"` }

// pyPair writes a height, width pair as one int when they are equal, else as a tuple.
func pyPair(h, w int) string {
	if h == w {
		return strconv.Itoa(h)
	}
	return fmt.Sprintf("(%d, %d)", h, w)
}
