package client

import (
	"context"
	"errors"
	"io"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
)

// Images returns the Images service client.
func (c *Client) Images() berthv1.ImagesClient { return berthv1.NewImagesClient(c.conn) }

// Content returns the Content service client.
func (c *Client) Content() berthv1.ContentClient { return berthv1.NewContentClient(c.conn) }

// Registry returns the Registry service client.
func (c *Client) Registry() berthv1.RegistryClient { return berthv1.NewRegistryClient(c.conn) }

// GC returns the GC service client.
func (c *Client) GC() berthv1.GCClient { return berthv1.NewGCClient(c.conn) }

// Pull pulls ref, calling progress (if not nil) with every update; it
// returns the last message, which carries the image.
func (c *Client) Pull(ctx context.Context, req *berthv1.PullRequest, progress func(*berthv1.PullProgress)) (*berthv1.PullProgress, error) {
	st, err := c.Images().Pull(c.Context(ctx), req)
	if err != nil {
		return nil, err
	}
	return drain(st, progress)
}

// Push pushes an image, reporting progress like Pull.
func (c *Client) Push(ctx context.Context, req *berthv1.PushRequest, progress func(*berthv1.PullProgress)) (*berthv1.PullProgress, error) {
	st, err := c.Images().Push(c.Context(ctx), req)
	if err != nil {
		return nil, err
	}
	return drain(st, progress)
}

func drain(st interface {
	Recv() (*berthv1.PullProgress, error)
}, progress func(*berthv1.PullProgress)) (*berthv1.PullProgress, error) {
	var last *berthv1.PullProgress
	for {
		m, err := st.Recv()
		if err == io.EOF {
			if last == nil {
				return nil, errors.New("daemon ended the transfer without a result")
			}
			return last, nil
		}
		if err != nil {
			return last, err
		}
		last = m
		if progress != nil {
			progress(m)
		}
	}
}

// Export writes the named images as a tar to w.
func (c *Client) Export(ctx context.Context, names []string, platform string, w io.Writer) error {
	st, err := c.Images().Export(c.Context(ctx), &berthv1.ExportRequest{Names: names, Platform: platform})
	if err != nil {
		return err
	}
	for {
		m, err := st.Recv()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		if _, err := w.Write(m.Data); err != nil {
			return err
		}
	}
}

// Import sends the tar read from r to the daemon and returns the images it loaded.
func (c *Client) Import(ctx context.Context, r io.Reader) (*berthv1.ImportResponse, error) {
	ctx, cancel := context.WithCancel(c.Context(ctx))
	defer cancel()
	st, err := c.Images().Import(ctx)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 1<<20)
	for {
		n, rerr := io.ReadFull(r, buf)
		if n > 0 {
			if err := st.Send(&berthv1.ImportRequest{Data: buf[:n]}); err != nil {
				if err == io.EOF {
					// The daemon stopped reading: its answer says why.
					_, err = st.CloseAndRecv()
				}
				return nil, err
			}
		}
		if rerr == io.EOF || rerr == io.ErrUnexpectedEOF {
			break
		}
		if rerr != nil {
			return nil, rerr
		}
	}
	return st.CloseAndRecv()
}
