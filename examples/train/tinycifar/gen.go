// Package tinycifar is examples/train/tinycifar.grc compiled by grcc.
package tinycifar

//go:generate go run ../../../cmd/grcc build ../tinycifar.grc -o . -pkg tinycifar
