package content

import (
	// Register the digest algorithms blobs may use.
	_ "crypto/sha256"
	_ "crypto/sha512"
)
