package adapter

import "errors"

var (
	// ErrMalformed is returned (and logged) for an adapter payload from another worker that does not decode.
	ErrMalformed = errors.New("adapter: malformed payload")
	// ErrLinkClosed is returned when the hub link is gone (Close, or the primary closed it).
	ErrLinkClosed = errors.New("adapter: hub link closed")
	// ErrJoinTimeout is returned by New and NewCluster when the hub does not answer the join in time.
	ErrJoinTimeout = errors.New("adapter: hub did not answer the join")
	// ErrNamespaceTaken is returned by Adapter.Init when the Cluster already serves the namespace.
	ErrNamespaceTaken = errors.New("adapter: namespace already served by this cluster")
)
