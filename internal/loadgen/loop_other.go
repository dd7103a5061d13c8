//go:build !linux

package loadgen

import (
	"context"
	"sync"
)

// startLoops reports that no event loop serves p: outside Linux every run
// uses the goroutine-per-connection client.
func (r *runner) startLoops(ctx context.Context, p *plan, wg *sync.WaitGroup) bool { return false }
