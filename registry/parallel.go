package registry

import (
	"context"
	"sync"
)

// forEach runs fn on every item, n at a time. The first failure cancels
// the context the others run with, no new item starts, and forEach
// returns that failure once the running ones have stopped.
func forEach[T any](ctx context.Context, n int, items []T, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	jobs := make(chan T)
	var wg sync.WaitGroup
	for range min(max(n, 1), len(items)) {
		wg.Go(func() {
			for it := range jobs {
				if err := fn(ctx, it); err != nil {
					cancel(err)
				}
			}
		})
	}
feed:
	for _, it := range items {
		select {
		case jobs <- it:
		case <-ctx.Done():
			break feed
		}
	}
	close(jobs)
	wg.Wait()
	return context.Cause(ctx)
}
