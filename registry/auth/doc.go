// Package auth authenticates Berth's registry requests: anonymous, HTTP basic
// and bearer tokens obtained from the realm named in a WWW-Authenticate
// challenge (GET with basic credentials, or the OAuth2 password/refresh-token
// POST form), tokens cached per scope until they expire. Credentials come from
// a Docker-style config.json ("auths" with base64 "auth" or "identitytoken"),
// which Login and Logout also write, atomically. It decides nothing about
// endpoints or retries and never logs a secret.
package auth
