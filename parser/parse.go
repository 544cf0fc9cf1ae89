package parser

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf8"

	"github.com/alecthomas/participle/v2"
	"github.com/alecthomas/participle/v2/lexer"
)

var grcLexer = lexer.MustSimple([]lexer.SimpleRule{
	{Name: "Comment", Pattern: `(#|//)[^\n]*`},
	{Name: "String", Pattern: `"(\\.|[^"\\\n])*"`},
	{Name: "Number", Pattern: `[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?`},
	{Name: "Ident", Pattern: `[A-Za-z_][A-Za-z0-9_]*`},
	{Name: "Punct", Pattern: `[{}\[\]=,]`},
	{Name: "Whitespace", Pattern: `[ \t\r\n]+`},
})

var grcParser = participle.MustBuild[File](
	participle.Lexer(grcLexer),
	participle.Elide("Whitespace", "Comment"),
	participle.UseLookahead(2),
)

// maxDepth bounds how deeply blocks and lists may nest. The parser recurses
// once a level, so without a bound a line of ten thousand "{" takes seconds
// and a longer one exhausts the stack; real specs nest five deep.
const maxDepth = 50

// Parse parses the source of one .grc file. The name is used in positions.
// On failure the error is an ErrorList with positions.
func Parse(name string, src []byte) (*File, error) {
	// Lex first: it finds the comments, which the parser elides, and
	// rejects nesting too deep for the parser.
	comments, err := scan(name, src)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			e = syntaxError(name, src, err)
		}
		return nil, ErrorList{e}
	}
	f, err := grcParser.ParseBytes(name, src)
	if err != nil {
		return nil, ErrorList{syntaxError(name, src, err)}
	}
	f.Name = name
	f.Comments = comments
	return f, nil
}

// scan lexes the source to collect the comments and check the nesting depth.
func scan(name string, src []byte) ([]Comment, error) {
	lex, err := grcLexer.LexString(name, string(src))
	if err != nil {
		return nil, err
	}
	sym := grcLexer.Symbols()
	var out []Comment
	depth := 0
	for {
		tok, err := lex.Next()
		if err != nil {
			return nil, err
		}
		switch {
		case tok.EOF():
			return out, nil
		case tok.Type == sym["Comment"]:
			out = append(out, Comment{Pos: tok.Pos, Text: tok.Value})
		case tok.Type == sym["Punct"] && (tok.Value == "{" || tok.Value == "["):
			if depth++; depth > maxDepth {
				pos := tok.Pos
				pos.Filename = name
				return nil, &Error{Pos: pos, Msg: fmt.Sprintf("blocks and lists nest more than %d deep", maxDepth)}
			}
		case tok.Type == sym["Punct"] && (tok.Value == "}" || tok.Value == "]"):
			depth--
		}
	}
}

// syntaxError turns a participle error into an Error with a friendlier message.
func syntaxError(name string, src []byte, err error) *Error {
	var perr participle.Error
	if !errors.As(err, &perr) {
		return &Error{Pos: Position{Filename: name, Line: 1, Column: 1}, Msg: err.Error()}
	}
	pos := perr.Position()
	if pos.Filename == "" {
		pos.Filename = name
	}
	msg := perr.Message()
	var lexErr *lexer.Error
	var unexpected *participle.UnexpectedTokenError
	switch {
	case errors.As(err, &lexErr):
		msg = badText(src, pos.Offset)
	case errors.As(err, &unexpected):
		pos, msg = unexpectedToken(name, src, unexpected.Unexpected)
		pos.Filename = name
		if unexpected.Expect != "" {
			msg += " (expected " + unexpected.Expect + ")"
		}
	}
	return &Error{Pos: pos, Msg: msg}
}

// badText words a lexer error: the text at offset starts no token.
func badText(src []byte, offset int) string {
	if offset < 0 || offset >= len(src) {
		return "unexpected end of file"
	}
	r, size := utf8.DecodeRune(src[offset:])
	switch {
	case r == '"':
		return "string literal not terminated (a string ends on its line)"
	case r == utf8.RuneError && size == 1:
		return fmt.Sprintf("invalid byte 0x%02x (a spec is UTF-8 text)", src[offset])
	case r == ';':
		return "invalid character ';'; entries need no separator"
	case r == ':':
		return "invalid character ':'; write key = value"
	}
	return fmt.Sprintf("invalid character %q", r)
}

// unexpectedToken words a parse error at tok, with a hint drawn from the
// tokens around it, and returns where to report it.
func unexpectedToken(name string, src []byte, tok lexer.Token) (Position, string) {
	sym := grcLexer.Symbols()
	var all []lexer.Token // every token but whitespace and comments, EOF last
	if lex, err := grcLexer.LexString(name, string(src)); err == nil {
		for {
			t, err := lex.Next()
			if err != nil {
				break
			}
			if t.Type != sym["Whitespace"] && t.Type != sym["Comment"] {
				all = append(all, t)
			}
			if t.EOF() {
				break
			}
		}
	}
	i := 0
	for i < len(all) && all[i].Pos.Offset < tok.Pos.Offset {
		i++
	}
	isValue := func(t lexer.Token) bool {
		return t.Type == sym["Number"] || t.Type == sym["String"] || t.Type == sym["Ident"] ||
			t.Type == sym["Punct"] && t.Value == "["
	}
	// After "key =" the parser may give up at the "=" rather than at the
	// missing value; point at what stands where the value should be.
	if i > 0 && i+1 < len(all) && tok.Type == sym["Punct"] && tok.Value == "=" &&
		(all[i-1].Type == sym["Ident"] || all[i-1].Type == sym["String"]) && !isValue(all[i+1]) {
		i++
		tok = all[i]
	}
	toks := all[:min(i, len(all))]
	braces, brackets := 0, 0
	for _, t := range toks {
		switch t.Value {
		case "{":
			braces++
		case "}":
			braces--
		case "[":
			brackets++
		case "]":
			brackets--
		}
	}
	var prev lexer.Token
	if len(toks) > 0 {
		prev = toks[len(toks)-1]
	}
	isPunct := func(t lexer.Token, s string) bool { return t.Type == sym["Punct"] && t.Value == s }

	var what string
	switch {
	case tok.EOF():
		what = "unexpected end of file"
	case tok.Type == sym["String"]:
		what = "unexpected string " + tok.Value
	case tok.Type == sym["Number"]:
		what = "unexpected number " + tok.Value
	default:
		what = fmt.Sprintf("unexpected %q", tok.Value)
	}
	var hint string
	switch {
	case brackets > 0 && tok.EOF():
		hint = `missing "]"`
	case brackets > 0 && (isPunct(prev, "[") || isPunct(prev, ",")):
		hint = "want a value in the list"
	case brackets > 0:
		hint = `want "," or "]" after a list item`
	case isPunct(prev, "="):
		hint = `want a value after "=": a number, a "string", a word or a [list]`
	case tok.EOF():
		hint = `missing "}"`
	case isPunct(tok, "}") && braces == 0:
		hint = "no block is open"
	case isPunct(tok, ","):
		hint = "entries are separated by spaces or new lines, not commas"
	case isPunct(tok, "=") && (prev.Type == 0 || isPunct(prev, "{") || isPunct(prev, "}")):
		hint = `want a key before "="`
	case isPunct(tok, "="):
		hint = "a setting takes one value"
	case (tok.Type == sym["Number"] || isPunct(tok, "[")) && prev.Type == sym["Ident"]:
		hint = fmt.Sprintf("missing \"=\" after %q", prev.Value)
	case (tok.Type == sym["Number"] || isPunct(tok, "[")) && prev.Type == sym["String"]:
		hint = fmt.Sprintf("missing \"=\" after %s", prev.Value)
	case tok.Type == sym["String"] && prev.Type == sym["String"]:
		hint = "an entry takes one name"
	case tok.Type == sym["String"]:
		hint = `a name follows its key, as in conv "conv1"`
	case isPunct(tok, "{"):
		hint = "a block follows its key, as in stem { ... }"
	}
	if hint != "" {
		what += "; " + hint
	}
	return tok.Pos, what
}

func unquote(s string) string {
	u, err := strconv.Unquote(s)
	if err != nil {
		return s
	}
	return u
}
