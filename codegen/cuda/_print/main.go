package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/grcc/grcc/codegen/cuda"
	"github.com/grcc/grcc/ir"
	"github.com/grcc/grcc/plan"
)

func main() {
	src, _ := os.ReadFile(os.Args[1])
	m, err := ir.Load(os.Args[1], src)
	if err != nil {
		panic(err)
	}
	p, err := plan.Build(m, plan.Options{Fusions: true, Verify: true})
	if err != nil {
		panic(err)
	}
	if len(os.Args) < 3 {
		fmt.Print(p)
		return
	}
	files, err := cuda.Emit(p, "model")
	if err != nil {
		panic(err)
	}
	host, err := cuda.HostSources(p)
	if err != nil {
		panic(err)
	}
	for k, v := range host {
		files[k] = v
	}
	os.MkdirAll(os.Args[2], 0o777)
	for k, v := range files {
		os.WriteFile(filepath.Join(os.Args[2], k), v, 0o666)
	}
	fmt.Println("launches", cuda.Launches(p))
}
