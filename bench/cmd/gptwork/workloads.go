package main

import "fmt"

// latencyContexts are the contexts of the per-token latency rows.
var latencyContexts = []int{64, 256, 1024}

// decodeWorkloads names the decode rows, as bench/python/peers.py does.
func decodeWorkloads() []string {
	ws := []string{"gpt decode 256 tok, cache", "gpt decode 256 tok, recompute"}
	for _, c := range latencyContexts {
		ws = append(ws, fmt.Sprintf("gpt token @ctx %d, cache", c), fmt.Sprintf("gpt token @ctx %d, recompute", c))
	}
	return ws
}
