package parser_test

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/grcc/grcc/parser"
)

// TestDeepNesting checks that nesting too deep for the recursive-descent
// parser is refused up front, quickly and at the opening that goes too deep,
// rather than taking seconds or exhausting the stack.
func TestDeepNesting(t *testing.T) {
	for _, tc := range []struct {
		name, open, close string
	}{
		{"blocks", "a { ", "}"},
		{"lists", "[", "]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Repeat(tc.open, 100000) + strings.Repeat(tc.close, 100000)
			if tc.name == "lists" {
				src = "x = " + src
			}
			_, err := parser.Parse("deep.grc", []byte(src))
			var list parser.ErrorList
			if !errors.As(err, &list) || len(list) != 1 {
				t.Fatalf("Parse: got %v, want one error", err)
			}
			if !strings.Contains(list[0].Msg, "nest more than") {
				t.Errorf("Parse: got %q, want a nesting error", list[0].Msg)
			}
		})
	}
	// As deep as allowed parses.
	const depth = 50
	src := "a " + strings.Repeat("{ a ", depth) + strings.Repeat("}", depth) + "\n"
	if _, err := parser.Parse("deep.grc", []byte(src)); err != nil {
		t.Errorf("Parse of %d nested blocks: %v", depth, err)
	}
}

// TestLargeSpec parses and formats a quarter of a megabyte of spec (some
// four thousand stages), checking that the parser and the formatter stay
// linear: a quadratic step would take minutes here. (A megabyte takes about
// two seconds.)
func TestLargeSpec(t *testing.T) {
	if testing.Short() {
		t.Skip("large input")
	}
	var b strings.Builder
	b.WriteString("model \"big\" {\n  stages {\n")
	for i := 0; b.Len() < 1<<18; i++ {
		fmt.Fprintf(&b, "    # stage %d\n    stage \"s%d\" { planes = %d  iterations = 1 }\n", i, i, i%7+1)
	}
	b.WriteString("  }\n}\n")
	f, err := parser.Parse("big.grc", []byte(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	out := parser.Format(f)
	if len(out) < 1<<18 {
		t.Errorf("Format gave %d bytes, want them all back", len(out))
	}
}

// TestSyntaxErrorPositions checks that each syntax error is reported once,
// with the file name, line and column of the offending text.
func TestSyntaxErrorPositions(t *testing.T) {
	for _, tc := range []struct {
		src, want string
	}{
		{"model \"m\" {\n", "x.grc:2:1: unexpected end of file; missing \"}\""},
		{"model \"m\" {\n  classes 10\n}\n", "x.grc:2:11: unexpected number 10; missing \"=\" after \"classes\""},
		{"model \"m\" {\n  a = 1 = 2\n}\n", "x.grc:2:9: unexpected \"=\"; a setting takes one value"},
		{"a = [1, 2\n", "x.grc:2:1: unexpected end of file; missing \"]\""},
		{"a = \"unterminated\n", "x.grc:1:5: string literal not terminated (a string ends on its line)"},
		{"a = 1 }\n", "x.grc:1:7: unexpected \"}\"; no block is open"},
		{"a \xff\n", "x.grc:1:3: invalid byte 0xff (a spec is UTF-8 text)"},
		{"a { b = }\n", "x.grc:1:9: unexpected \"}\"; want a value after \"=\": a number, a \"string\", a word or a [list]"},
		{"{ }\n", "x.grc:1:1: unexpected \"{\"; a block follows its key, as in stem { ... }"},
		{"a \"x\" \"y\"\n", "x.grc:1:7: unexpected string \"y\"; an entry takes one name"},
	} {
		_, err := parser.Parse("x.grc", []byte(tc.src))
		if err == nil || err.Error() != tc.want {
			t.Errorf("Parse(%q):\n got %v\nwant %s", tc.src, err, tc.want)
		}
	}
}

// TestComments checks that comments of both kinds are collected, in order,
// wherever they are.
func TestComments(t *testing.T) {
	src := "# one\nmodel \"m\" { // two\n  a = 1 # three\n}\n// four"
	f, err := parser.Parse("x.grc", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range f.Comments {
		got = append(got, fmt.Sprintf("%d:%s", c.Pos.Line, c.Text))
	}
	want := "1:# one 2:// two 3:# three 5:// four"
	if strings.Join(got, " ") != want {
		t.Errorf("comments %q, want %q", strings.Join(got, " "), want)
	}
}
