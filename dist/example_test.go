package dist_test

import (
	"fmt"
	"log"

	"github.com/mlc-dev/mlc/dist"
)

// The data-parallel step: each rank computes gradients on its own batch,
// Mean makes them the mean over ranks, and every rank applies the same
// update. Outside mpirun (or without -tags mpi) the Comm is one process
// and Mean leaves the gradients as they are.
func Example() {
	c, err := dist.Init(dist.Options{})
	if err != nil {
		log.Fatal(err)
	}
	params := []float32{1, 1, 1}
	grads := [][]float32{make([]float32, 2), make([]float32, 1)} // a model's gradient tensors

	// Once: the same start everywhere, and the same model, config and data.
	if err := dist.Broadcast(c, params); err != nil {
		log.Fatal(err)
	}
	if err := c.Check(dist.Part{Name: "config", Data: []byte("lr=0.1")}); err != nil {
		log.Fatal(err)
	}
	red, err := dist.NewReducer(c, grads, 4<<20)
	if err != nil {
		log.Fatal(err)
	}

	for step := range 2 {
		// Backward on this rank's batch (here, made-up gradients).
		grads[0][0], grads[0][1], grads[1][0] = 0.5, float32(step), 2
		if err := red.Mean(); err != nil {
			log.Fatal(err)
		}
		// Update with the mean gradient.
		params[0] -= 0.1 * grads[0][0]
		params[1] -= 0.1 * grads[0][1]
		params[2] -= 0.1 * grads[1][0]
	}
	fmt.Printf("rank %d of %d: %.2f\n", c.Rank(), c.Size(), params)
	if err := c.Finalize(); err != nil {
		log.Fatal(err)
	}
	// Output: rank 0 of 1: [0.90 0.90 0.60]
}
