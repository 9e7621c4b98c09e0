// Package deploy holds the checks of deploy/: the Helm chart rendered with
// Helm's Go SDK and decoded strictly into the Kubernetes API types, the
// Compose file against the Compose specification's JSON schema.
package deploy
