// Package parser reads .grc source into a syntax tree with positions.
//
// It takes the bytes of a spec file and gives a *File: a tree of entries,
// each a key with an optional quoted name and either a value or a block of
// further entries. It knows the shape of the language, not its meaning: which
// keys exist and what they mean is the business of package ir, which checks
// the tree and turns it into a model. Comments are kept beside the tree so
// that Format can print them back.
package parser

import (
	"github.com/alecthomas/participle/v2/lexer"
)

// Position is a place in a source file (1-based line and column).
type Position = lexer.Position

// File is one parsed .grc file.
type File struct {
	Pos     Position
	Entries []*Entry `parser:"@@*"`

	// Comments holds every comment of the source in order, for Format.
	Comments []Comment `parser:""`
	// Name is the file's path as given to Parse.
	Name string `parser:""`
}

// Entry is the one construct of the language:
//
//	key                       relu
//	key "name"                batchnorm "bn1"
//	key = value               planes = 64
//	key "name" { entries }    stage "layer1" { planes = 64 }
//	key { entries }           stem { ... }
type Entry struct {
	Pos    Position
	EndPos Position

	Key   string  `parser:"@Ident"`
	Name  *string `parser:"@String?"`
	Value *Value  `parser:"( '=' @@"`
	Block *Block  `parser:"| @@ )?"`
}

// Block is a braced list of entries.
type Block struct {
	Pos     Position
	EndPos  Position
	Entries []*Entry `parser:"'{' @@* '}'"`
}

// Value is the right-hand side of key = value.
type Value struct {
	Pos    Position
	EndPos Position

	Number *string `parser:"  @Number"`
	String *string `parser:"| @String"`
	Ident  *string `parser:"| @Ident"`
	List   *List   `parser:"| @@"`
}

// List is a bracketed, comma-separated list of values: [1, 3, 224, 224].
type List struct {
	Pos    Position
	EndPos Position
	Items  []*Value `parser:"'[' ( @@ ( ',' @@ )* ','? )? ']'"`
}

// Comment is one line comment, '#' or '//' to the end of the line.
type Comment struct {
	Pos  Position
	Text string
}

// Unquoted returns the entry's name without quotes, or "" when it has none.
func (e *Entry) Unquoted() string {
	if e.Name == nil {
		return ""
	}
	return unquote(*e.Name)
}
