package worker

import "github.com/stickyd/stickyd/engineio"

// EngineOptions returns o wired to this Listener: GenerateID issues sids
// naming this instance (so the primary routes them here, race-free), and
// OnSessionOpen/OnSessionClose count sessions for the Load reports. Hooks
// already set in o are kept and called after the counting.
func (l *Listener) EngineOptions(o engineio.Options) engineio.Options {
	o.GenerateID = l.GenerateID
	open, closed := o.OnSessionOpen, o.OnSessionClose
	o.OnSessionOpen = func(sid string) {
		l.SessionOpened()
		if open != nil {
			open(sid)
		}
	}
	o.OnSessionClose = func(sid, reason string) {
		l.SessionClosed()
		if closed != nil {
			closed(sid, reason)
		}
	}
	return o
}
