// Package hosts decides where a registry host is reached: the ordered list of
// endpoints (mirrors first, then the upstream) with scheme, API path, TLS
// settings and capabilities. It reads containerd-style hosts.toml files from a
// certs.d directory (<dir>/<host[:port]>/hosts.toml, plus Docker-style ca.crt,
// *.cert/*.key files there) and the daemon configuration's mirrors and
// plain-HTTP lists. Loopback hosts (localhost, 127.0.0.0/8, ::1) are plain HTTP
// unless their directory configures TLS; all other hosts are HTTPS. It never
// opens a network connection and holds no credentials.
package hosts
