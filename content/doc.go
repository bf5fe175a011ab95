// Package content defines Berth's content-addressed blob store: the types and
// small interfaces (Provider, Ingester, Manager, IngestManager, Store) through
// which the registry client writes blobs, the unpacker reads them and the
// metadata layer namespaces them, plus helpers (ReadBlob, WriteBlob) that
// bound reads by the descriptor's size and verify digests. It holds no
// storage itself (see content/local) and knows nothing of namespaces,
// images, registries or garbage collection.
package content
