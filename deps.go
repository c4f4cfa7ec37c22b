//go:build tools

// Package tools pins the module's dependencies until every package that uses
// them lands. Removed once the tree imports them directly.
package tools

import (
	_ "github.com/gorilla/websocket"
	_ "github.com/hashicorp/go-hclog"
	_ "golang.org/x/sys/unix"
)
