// Package labels holds the class names of the datasets grcc's shipped models
// were trained on, in class-index order, and reads label files.
//
// ImageNet's 1000 names are the list torchvision carries
// (torchvision.models._meta._IMAGENET_CATEGORIES); CIFAR-10's and CIFAR-100's
// are the datasets' own (CIFAR-100's fine labels, which the dataset orders
// alphabetically).
package labels

import (
	_ "embed"
	"fmt"
	"os"
	"strings"
)

var (
	//go:embed imagenet.txt
	imagenetTxt string
	//go:embed cifar10.txt
	cifar10Txt string
	//go:embed cifar100.txt
	cifar100Txt string
)

// ImageNet, CIFAR10 and CIFAR100 are the class names of those datasets.
var (
	ImageNet = Parse(imagenetTxt)
	CIFAR10  = Parse(cifar10Txt)
	CIFAR100 = Parse(cifar100Txt)
)

// Builtin returns the names of a built-in set: imagenet, cifar10 or cifar100.
func Builtin(name string) ([]string, bool) {
	switch name {
	case "imagenet":
		return ImageNet, true
	case "cifar10":
		return CIFAR10, true
	case "cifar100":
		return CIFAR100, true
	}
	return nil, false
}

// BuiltinNames lists the built-in sets.
var BuiltinNames = []string{"imagenet", "cifar10", "cifar100"}

// Parse splits a label file: one name a line, surrounding spaces and a
// final newline dropped, CRLF line ends accepted.
func Parse(text string) []string {
	text = strings.TrimRight(strings.ReplaceAll(text, "\r\n", "\n"), "\n")
	if text == "" {
		return nil
	}
	lines := strings.Split(text, "\n")
	for i, l := range lines {
		lines[i] = strings.TrimSpace(l)
	}
	return lines
}

// ReadFile reads a label file and checks that it names exactly n classes
// and that no name is empty. Errors name the file.
func ReadFile(path string, n int) ([]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	names := Parse(string(data))
	if len(names) != n {
		return nil, fmt.Errorf("%s: %d class names, want %d (one a line)", path, len(names), n)
	}
	for i, s := range names {
		if s == "" {
			return nil, fmt.Errorf("%s:%d: empty class name", path, i+1)
		}
	}
	return names, nil
}

// Name gives the name of class c, or its number when names is nil.
func Name(names []string, c int) string {
	if c >= 0 && c < len(names) {
		return names[c]
	}
	return fmt.Sprint(c)
}
