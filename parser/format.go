package parser

import (
	"bytes"
	"strings"
)

// Format prints a file in canonical layout: two-space indentation, one entry
// a line, short blocks of plain settings on one line, "=" aligned in runs of
// settings, at most one blank line kept between entries, comments kept where
// they were. Formatting a formatted file changes nothing.
func Format(f *File) []byte {
	p := &printer{comments: f.Comments, blockStart: true}
	p.entries(f.Entries, 0)
	p.flushComments(1<<31-1, 0)
	out := bytes.TrimLeft(p.buf.Bytes(), "\n")
	return append(bytes.TrimRight(out, "\n"), '\n')
}

type printer struct {
	buf      bytes.Buffer
	comments []Comment
	next     int // index of the first comment not yet printed
	lastLine int // source line of the last thing printed, for blank-line keeping
	// blockStart is true until something is printed in the current block
	// (or file): blank lines are kept between entries, not before the first.
	blockStart bool

	// columns maps an entry printed as a table row to its column widths.
	columns map[*Entry][]int
}

const indentUnit = "  "

// oneLineWidth is the widest a block may be to be printed on one line.
const oneLineWidth = 100

func (p *printer) entries(list []*Entry, depth int) {
	widths := alignWidths(list)
	// Printing an entry's block lays out that block's own table, so set
	// this level's columns again before each entry.
	columns := p.tableColumns(list, depth)
	for i, e := range list {
		p.flushComments(e.Pos.Line, depth)
		if !p.blockStart && e.Pos.Line > p.lastLine+1 {
			p.buf.WriteByte('\n')
		}
		p.blockStart = false
		p.buf.WriteString(strings.Repeat(indentUnit, depth))
		p.columns = columns
		p.entry(e, depth, widths[i])
		p.trailingComment(e.EndPos.Line)
		p.buf.WriteByte('\n')
		p.lastLine = e.EndPos.Line
	}
}

// alignWidths gives, for each entry of a run of consecutive "key = value"
// lines, the key width to pad to so that the "=" signs line up.
func alignWidths(list []*Entry) []int {
	widths := make([]int, len(list))
	for i := 0; i < len(list); {
		j := i
		w := 0
		for j < len(list) && isSetting(list[j]) && (j == i || list[j].Pos.Line <= list[j-1].EndPos.Line+1) {
			w = max(w, len(list[j].Key))
			j++
		}
		if j == i {
			i++
			continue
		}
		for k := i; k < j; k++ {
			widths[k] = w
		}
		i = j
	}
	return widths
}

func isSetting(e *Entry) bool { return e.Value != nil && e.Name == nil }

func (p *printer) entry(e *Entry, depth, keyWidth int) {
	if cols, ok := p.columns[e]; ok {
		p.buf.WriteString(tableRow(e, cols))
		return
	}
	p.buf.WriteString(e.Key)
	if e.Name != nil {
		p.buf.WriteString(" " + *e.Name)
	}
	switch {
	case e.Value != nil:
		if keyWidth > len(e.Key) {
			p.buf.WriteString(strings.Repeat(" ", keyWidth-len(e.Key)))
		}
		p.buf.WriteString(" = ")
		p.buf.WriteString(formatValue(e.Value))
	case e.Block != nil:
		if line, ok := p.oneLine(e.Block, depth); ok {
			p.buf.WriteString(" " + line)
			return
		}
		p.buf.WriteString(" {\n")
		saved := p.lastLine
		p.lastLine = e.Block.Pos.Line
		p.blockStart = true
		p.entries(e.Block.Entries, depth+1)
		p.flushComments(e.Block.EndPos.Line, depth+1)
		p.lastLine = saved
		p.blockStart = false
		p.buf.WriteString(strings.Repeat(indentUnit, depth) + "}")
	}
}

// oneLine renders a block on one line when it holds only plain settings, no
// comments, and fits.
func (p *printer) oneLine(b *Block, depth int) (string, bool) {
	return p.oneLineAt(b, depth, p.next)
}

// oneLineAt is oneLine with the first unprinted comment at index next.
func (p *printer) oneLineAt(b *Block, depth, next int) (string, bool) {
	// EndPos is where the first token after the block starts, which may be
	// a comment right after the "}", so compare offsets.
	commentInside := func() bool {
		for _, c := range p.comments[next:] {
			if c.Pos.Offset >= b.EndPos.Offset {
				break
			}
			if c.Pos.Offset > b.Pos.Offset {
				return true
			}
		}
		return false
	}
	if len(b.Entries) == 0 {
		return "{}", !commentInside()
	}
	parts := make([]string, len(b.Entries))
	for i, e := range b.Entries {
		if !isSetting(e) {
			return "", false
		}
		parts[i] = e.Key + " = " + formatValue(e.Value)
	}
	if commentInside() {
		return "", false
	}
	line := "{ " + strings.Join(parts, "  ") + " }"
	if len(indentUnit)*depth+len(line) > oneLineWidth {
		return "", false
	}
	return line, true
}

// hasCommentBefore reports whether an unprinted comment starts before line.
func (p *printer) hasCommentBefore(line int) bool {
	return p.next < len(p.comments) && p.comments[p.next].Pos.Line < line
}

// flushComments prints, each on its own line, the comments that start before line.
func (p *printer) flushComments(line, depth int) {
	for p.hasCommentBefore(line) {
		c := p.comments[p.next]
		if !p.blockStart && c.Pos.Line > p.lastLine+1 {
			p.buf.WriteByte('\n')
		}
		p.blockStart = false
		p.buf.WriteString(strings.Repeat(indentUnit, depth) + strings.TrimRight(c.Text, " \t\r") + "\n")
		p.lastLine = c.Pos.Line
		p.next++
	}
}

// trailingComment prints a comment that sits at the end of line.
func (p *printer) trailingComment(line int) {
	if p.next < len(p.comments) && p.comments[p.next].Pos.Line == line {
		p.buf.WriteString("  " + strings.TrimRight(p.comments[p.next].Text, " \t\r"))
		p.next++
	}
}

func formatValue(v *Value) string {
	switch {
	case v.Number != nil:
		return *v.Number
	case v.String != nil:
		return *v.String
	case v.Ident != nil:
		return *v.Ident
	case v.List != nil:
		items := make([]string, len(v.List.Items))
		for i, it := range v.List.Items {
			items[i] = formatValue(it)
		}
		return "[" + strings.Join(items, ", ") + "]"
	}
	return ""
}

// tableColumns finds runs of consecutive lines that are named one-line blocks
// of the same key, such as the stage lines of a spec, and gives each row the
// column widths that line its settings up like a table.
func (p *printer) tableColumns(list []*Entry, depth int) map[*Entry][]int {
	cols := map[*Entry][]int{}
	isRow := func(e *Entry) bool {
		if e.Name == nil || e.Block == nil || len(e.Block.Entries) == 0 {
			return false
		}
		_, ok := p.oneLineAt(e.Block, depth, p.next)
		return ok
	}
	for i := 0; i < len(list); {
		j := i
		for j < len(list) && isRow(list[j]) && (j == i || list[j].Key == list[i].Key && list[j].Pos.Line <= list[j-1].EndPos.Line+1) {
			j++
		}
		if j-i < 2 {
			i = max(j, i+1)
			continue
		}
		var widths []int // name, then one per setting
		for _, e := range list[i:j] {
			parts := rowParts(e)
			for len(widths) < len(parts) {
				widths = append(widths, 0)
			}
			for k, s := range parts {
				widths[k] = max(widths[k], len(s))
			}
		}
		for _, e := range list[i:j] {
			cols[e] = widths
		}
		i = j
	}
	return cols
}

// rowParts splits a table row into its name and its "key = value" settings.
func rowParts(e *Entry) []string {
	parts := []string{e.Key + " " + *e.Name}
	for _, s := range e.Block.Entries {
		parts = append(parts, s.Key+" = "+formatValue(s.Value))
	}
	return parts
}

func tableRow(e *Entry, widths []int) string {
	parts := rowParts(e)
	var b strings.Builder
	for k, s := range parts {
		b.WriteString(s)
		if k == len(parts)-1 {
			break
		}
		gap := 2
		if k == 0 {
			gap = 1
			b.WriteString(strings.Repeat(" ", widths[k]-len(s)+gap) + "{ ")
			continue
		}
		b.WriteString(strings.Repeat(" ", widths[k]-len(s)+gap))
	}
	b.WriteString(" }")
	return b.String()
}
