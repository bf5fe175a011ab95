package daemon

import (
	"context"
	"errors"
	"time"

	"github.com/berth-containers/berth/container"
	"github.com/berth-containers/berth/oci"
)

// shouldRestart applies a restart policy to an exited container.
func shouldRestart(c container.Container) bool {
	p := c.RestartPolicy
	if c.Status.ManuallyStopped || c.Options.AutoRemove {
		return false
	}
	switch p.Name {
	case oci.RestartAlways, oci.RestartUnlessStopped:
		return true
	case oci.RestartOnFailure:
		return c.Status.ExitCode != 0 && (p.MaxRetries == 0 || c.Status.RestartCount < p.MaxRetries)
	}
	return false
}

// restartDelay is docker's backoff: 100ms doubling, at most a minute.
func restartDelay(count int) time.Duration {
	d := 100 * time.Millisecond
	for i := 0; i < count && d < time.Minute; i++ {
		d *= 2
	}
	return min(d, time.Minute)
}

// maybeRestart restarts an exited container when its policy says so,
// after the backoff; `stop` or `rm` in between wins.
func (s *ContainersService) maybeRestart(ctx context.Context, c container.Container) {
	if !shouldRestart(c) {
		return
	}
	delay := restartDelay(c.Status.RestartCount)
	if !c.Status.StartedAt.IsZero() && c.Status.FinishedAt.Sub(c.Status.StartedAt) >= 10*time.Second {
		delay = restartDelay(0) // it ran a while: the backoff starts over, as docker's does
	}
	restarting := false
	if _, err := s.store.Update(ctx, c.ID, func(c *container.Container) error {
		if !c.Status.ManuallyStopped && (c.Status.State == container.StateExited || c.Status.State == container.StateRestarting) {
			c.Status.State = container.StateRestarting
			restarting = true
		}
		return nil
	}); err != nil || !restarting {
		return
	}
	go func() {
		time.Sleep(delay)
		if _, err := s.store.Update(ctx, c.ID, func(c *container.Container) error {
			if c.Status.State == container.StateRestarting && !c.Status.ManuallyStopped {
				c.Status.RestartCount++
			}
			return nil
		}); err != nil {
			return
		}
		if _, _, _, err := s.startTask(ctx, c.ID, nil, true, nil); err != nil && !errors.Is(err, errRestartCancelled) {
			s.log.Warn("restart", "id", c.ID, "err", err)
		}
	}()
}

// maybeRestartAfterBoot starts always containers (and unless-stopped ones
// not stopped by hand) that are not running when berthd starts.
func (s *ContainersService) maybeRestartAfterBoot(ctx context.Context, c container.Container) {
	cur, err := s.store.Get(ctx, c.ID)
	if err != nil || cur.Status.State == container.StateCreated {
		return
	}
	if cur.Status.ManuallyStopped || cur.Options.AutoRemove {
		return
	}
	if cur.RestartPolicy.Name == oci.RestartAlways || cur.RestartPolicy.Name == oci.RestartUnlessStopped || cur.Status.State == container.StateRestarting {
		s.maybeRestart(ctx, cur)
	}
}
