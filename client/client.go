package client

import (
	"context"
	"fmt"
	"io"
	"net"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"

	berthv1 "github.com/berth-containers/berth/api/berth/v1"
	"github.com/berth-containers/berth/internal/errgrpc"
	"github.com/berth-containers/berth/internal/namespaces"
)

// DefaultAddress is berthd's default socket.
const DefaultAddress = "/run/berth/berthd.sock"

// Client is a connection to berthd.
type Client struct {
	conn      *grpc.ClientConn
	namespace string
	address   string
}

// New dials the daemon at address (a unix socket path) for namespace ns.
func New(address, ns string) (*Client, error) {
	if address == "" {
		address = DefaultAddress
	}
	if ns == "" {
		ns = namespaces.Default
	}
	if err := namespaces.Validate(ns); err != nil {
		return nil, err
	}
	if _, err := os.Stat(address); err != nil {
		return nil, fmt.Errorf("cannot connect to berthd at %s: is the daemon running? (%w)", address, err)
	}
	conn, err := grpc.NewClient("passthrough:///berthd",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, "unix", address)
		}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)),
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			return errgrpc.ToNative(invoker(ctx, method, req, reply, cc, opts...))
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			s, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				return nil, errgrpc.ToNative(err)
			}
			return &nativeStream{ClientStream: s}, nil
		}),
	)
	if err != nil {
		return nil, err
	}
	return &Client{conn: conn, namespace: ns, address: address}, nil
}

// Conn returns the underlying connection, for service clients.
func (c *Client) Conn() *grpc.ClientConn { return c.conn }

// Namespace is the namespace this client acts in.
func (c *Client) Namespace() string { return c.namespace }

// Context returns ctx carrying the client's namespace for the daemon.
func (c *Client) Context(ctx context.Context) context.Context {
	return metadata.AppendToOutgoingContext(ctx, namespaces.GRPCHeader, c.namespace)
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Version asks the daemon for its version.
func (c *Client) Version(ctx context.Context) (*berthv1.VersionResponse, error) {
	ctx, cancel := context.WithTimeout(c.Context(ctx), 10*time.Second)
	defer cancel()
	return berthv1.NewVersionClient(c.conn).Version(ctx, &berthv1.VersionRequest{})
}

// nativeStream turns the gRPC errors of a stream back into error kinds.
type nativeStream struct{ grpc.ClientStream }

func (s *nativeStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err == io.EOF {
		return err
	}
	return errgrpc.ToNative(err)
}

func (s *nativeStream) SendMsg(m any) error {
	err := s.ClientStream.SendMsg(m)
	if err == io.EOF {
		return err
	}
	return errgrpc.ToNative(err)
}
