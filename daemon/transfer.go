package daemon

import (
	"io"

	"google.golang.org/grpc"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/image"
	"github.com/berth-containers/berth/images"
)

const chunkSize = 1 << 20

// Export implements berth.v1.Images: the tar streams in chunks.
func (s *ImagesService) Export(req *berthv1.ExportRequest, stream grpc.ServerStreamingServer[berthv1.Chunk]) error {
	ctx := stream.Context()
	var imgs []images.Image
	for _, n := range req.Names {
		img, err := s.lookup(ctx, n)
		if err != nil {
			return err
		}
		imgs = append(imgs, img)
	}
	pr, pw := io.Pipe()
	errc := make(chan error, 1)
	go func() {
		err := image.Save(ctx, s.deps, imgs, req.Platform, pw)
		pw.CloseWithError(err)
		errc <- err
	}()
	buf := make([]byte, chunkSize)
	for {
		n, err := io.ReadFull(pr, buf)
		if n > 0 {
			if serr := stream.Send(&berthv1.Chunk{Data: buf[:n]}); serr != nil {
				pr.CloseWithError(serr)
				<-errc
				return serr
			}
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			break
		}
		if err != nil {
			<-errc
			return err
		}
	}
	return <-errc
}

// Import implements berth.v1.Images: the client streams the tar.
func (s *ImagesService) Import(stream grpc.ClientStreamingServer[berthv1.ImportRequest, berthv1.ImportResponse]) error {
	ctx := stream.Context()
	pr, pw := io.Pipe()
	go func() {
		for {
			m, err := stream.Recv()
			if err == io.EOF {
				pw.Close()
				return
			}
			if err != nil {
				pw.CloseWithError(err)
				return
			}
			if _, err := pw.Write(m.Data); err != nil {
				return
			}
		}
	}()
	imgs, err := image.Load(ctx, s.deps, pr, image.LoadOptions{})
	pr.CloseWithError(io.ErrClosedPipe)
	if err != nil {
		return err
	}
	out := &berthv1.ImportResponse{}
	for _, img := range imgs {
		out.Images = append(out.Images, s.describe(ctx, img))
	}
	s.log.Info("loaded images", "count", len(imgs))
	return stream.SendAndClose(out)
}
