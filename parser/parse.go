package parser

import (
	"errors"
	"fmt"
	"strconv"

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

// Parse parses the source of one .grc file. The name is used in positions.
// On failure the error is an ErrorList with positions.
func Parse(name string, src []byte) (*File, error) {
	f, err := grcParser.ParseBytes(name, src)
	if err != nil {
		return nil, ErrorList{syntaxError(name, err)}
	}
	f.Name = name
	f.Comments, err = comments(name, src)
	if err != nil {
		return nil, ErrorList{syntaxError(name, err)}
	}
	return f, nil
}

// comments lexes the source once more to collect the comments the parser elided.
func comments(name string, src []byte) ([]Comment, error) {
	lex, err := grcLexer.LexString(name, string(src))
	if err != nil {
		return nil, err
	}
	commentType := grcLexer.Symbols()["Comment"]
	var out []Comment
	for {
		tok, err := lex.Next()
		if err != nil {
			return nil, err
		}
		if tok.EOF() {
			return out, nil
		}
		if tok.Type == commentType {
			out = append(out, Comment{Pos: tok.Pos, Text: tok.Value})
		}
	}
}

// syntaxError turns a participle error into an Error with a friendlier message.
func syntaxError(name string, err error) *Error {
	var perr participle.Error
	if !errors.As(err, &perr) {
		return &Error{Pos: Position{Filename: name, Line: 1, Column: 1}, Msg: err.Error()}
	}
	pos := perr.Position()
	if pos.Filename == "" {
		pos.Filename = name
	}
	msg := perr.Message()
	var unexpected *participle.UnexpectedTokenError
	if errors.As(err, &unexpected) {
		tok := unexpected.Unexpected
		switch {
		case tok.EOF():
			msg = "unexpected end of file (missing \"}\"?)"
		default:
			msg = fmt.Sprintf("unexpected %q", tok.Value)
			if unexpected.Expect != "" {
				msg += " (expected " + unexpected.Expect + ")"
			}
		}
	}
	return &Error{Pos: pos, Msg: msg}
}

func unquote(s string) string {
	u, err := strconv.Unquote(s)
	if err != nil {
		return s
	}
	return u
}
