package adapter

import (
	"errors"

	"github.com/stickyd/stickyd/hub"
)

var (
	// ErrMalformed is returned (and logged) for an adapter payload from another worker that does not decode; it is hub.ErrMalformedPayload.
	ErrMalformed = hub.ErrMalformedPayload
	// ErrLinkClosed is hub.ErrLinkClosed: the hub link is gone (Close, or the primary closed it).
	ErrLinkClosed = hub.ErrLinkClosed
	// ErrJoinTimeout is hub.ErrJoinTimeout: New and NewCluster got no answer from the hub in time.
	ErrJoinTimeout = hub.ErrJoinTimeout
	// ErrNamespaceTaken is returned by Adapter.Init when the Cluster already serves the namespace.
	ErrNamespaceTaken = errors.New("adapter: namespace already served by this cluster")
)
