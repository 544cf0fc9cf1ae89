package cli

import (
	"bufio"
	"flag"
	"fmt"
	"os"

	"github.com/grcc/grcc/runtime/checkpoint"
)

var convertCmd = &command{
	name: "convert", args: "IN OUT.safetensors", nargs: 2,
	summary: "convert a PyTorch checkpoint to safetensors",
	detail: `IN may be a PyTorch .pt file (zip or legacy format, a bare state_dict or a
training checkpoint with a 'module.' prefix) or safetensors. Entries keep
their order and names; shared tensors are written once per key.`,
	flags: func(*flag.FlagSet) func(*env, []string) error {
		return func(e *env, args []string) error {
			sd, err := checkpoint.Load(args[0])
			if err != nil {
				return err
			}
			f, err := os.Create(args[1])
			if err != nil {
				return fileError(args[1], err)
			}
			w := bufio.NewWriter(f)
			err = checkpoint.WriteSafetensors(w, sd)
			if err == nil {
				err = w.Flush()
			}
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				os.Remove(args[1])
				return fmt.Errorf("%s: %w", args[1], err)
			}
			fmt.Fprintf(e.stdout, "%s: %d tensors written\n", args[1], len(sd.Tensors))
			return nil
		}
	},
}
