// Package digest names content by its hash, "sha256:<hex>": the store keys blobs by it, and
// model artifacts, endpoints and runs record it. It is a leaf so that every layer, the model
// library included, names content the same way without importing the store.
package digest

import (
	"crypto/sha256"
	"encoding/hex"
)

// Prefix starts every digest: the algorithm, so another one could be told apart later.
const Prefix = "sha256:"

// Bytes is the digest of b.
func Bytes(b []byte) string {
	sum := sha256.Sum256(b)
	return Prefix + hex.EncodeToString(sum[:])
}
