package serve_test

import (
	"context"
	"log"
	"net"
	"os/signal"
	"syscall"
	"time"

	"github.com/grcc/grcc/generated/tiny_cifar"
	"github.com/grcc/grcc/serve"
)

// generatedModel adapts a generated package's Model to serve.Model: the
// package's constants give the name and shapes.
type generatedModel struct{ *tiny_cifar.Model }

func (generatedModel) Name() string    { return tiny_cifar.Name }
func (generatedModel) NumClasses() int { return tiny_cifar.NumClasses }
func (generatedModel) InputShape() (c, h, w int) {
	return tiny_cifar.InputChannels, tiny_cifar.InputHeight, tiny_cifar.InputWidth
}

// Serving a generated package from a Go program, until SIGINT or SIGTERM.
func Example() {
	m := tiny_cifar.New()
	if err := m.Load("tiny_cifar.pt"); err != nil {
		log.Fatal(err)
	}
	m.SetMaxWorkspaces(2)
	s := serve.New(generatedModel{m}, serve.Config{MaxBatch: 8, Workers: 2})
	l, err := net.Listen("tcp", "127.0.0.1:8000")
	if err != nil {
		log.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := s.Serve(ctx, l, 30*time.Second); err != nil {
		log.Fatal(err)
	}
}
