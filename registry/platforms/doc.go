// Package platforms parses, normalises and matches image platforms
// ("linux/arm64/v8") and picks the manifest of an index that fits a platform
// (by default the host's). It is pure data handling: it fetches nothing and
// never decides which platforms a daemon can run beyond matching.
package platforms
