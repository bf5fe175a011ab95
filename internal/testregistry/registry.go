package testregistry

// Registry is a running in-process registry.
type Registry struct {
	Host string // 127.0.0.1:port
}
