//go:build !linux

package loadgen

import (
	"context"
	"sync"
)

// Outside Linux every run uses the goroutine-per-connection client: there
// are no event loops to start or close.
type evLoop struct{}

func (r *runner) startLoops(ctx context.Context, p *plan, wg *sync.WaitGroup) bool { return false }

func (r *runner) closeLoops() {}
