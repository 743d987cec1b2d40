package kernels

import (
	"fmt"

	"github.com/mlc-dev/mlc/obpeertmp/ob"
)

func init() {
	fmt.Println("openblas core:", ob.Core())
	peers = append(peers, peer{name: "openblas", sgemm: ob.Sgemm, dgemm: ob.Dgemm})
}
