package redisproto

import (
	"fmt"
)

// decodeData reads the fields of m.Type from the message's data map.
func (m *ClusterMessage) decodeData(d *value) error {
	var err error
	if m.Type <= ClusterFetchSockets {
		o, ok := d.get("opts")
		if !ok {
			return fmt.Errorf("%w: type %d without opts", ErrMalformed, m.Type)
		}
		if m.Opts, err = optsFromValue(o); err != nil {
			return err
		}
	}
	switch m.Type {
	case ClusterBroadcast:
		return m.decodePacket(d)
	case ClusterSocketsJoin, ClusterSocketsLeave:
		m.Rooms, err = roomList(d, "rooms")
		return err
	case ClusterDisconnectSockets:
		if c, ok := d.get("close"); ok && c.kind == kindBool {
			m.Close = c.b
		}
	case ClusterServerSideEmit:
		m.Args, err = eventArgs(d, "packet")
		return err
	case ClusterFetchSocketsResponse:
		s, ok := d.get("sockets")
		if !ok || s.kind != kindArray {
			return fmt.Errorf("%w: sockets is not an array", ErrMalformed)
		}
		m.Sockets, err = (&Response{sockets: s}).FetchedSockets()
		return err
	case ClusterBroadcastClientCount:
		c, ok := d.get("clientCount")
		if !ok || c.kind != kindInt || c.i < 0 || c.i > 1<<31 {
			return fmt.Errorf("%w: clientCount is not a count", ErrMalformed)
		}
		m.ClientCount = int(c.i)
	case ClusterServerSideEmitResp, ClusterBroadcastAck:
		if p, ok := d.get("packet"); ok && p.kind != kindUndefined {
			m.Ack = toJSON(*p)
		}
	}
	return nil
}

// decodePacket reads a broadcast's packet, which belongs to m.NSP.
func (m *ClusterMessage) decodePacket(d *value) error {
	p, ok := d.get("packet")
	if !ok || p.kind != kindMap {
		return fmt.Errorf("%w: broadcast without packet", ErrMalformed)
	}
	pv := *p
	pv.keys = append([]string(nil), p.keys...)
	pv.items = append([]value(nil), p.items...)
	if n, ok := pv.get("nsp"); ok {
		*n = strValue(m.NSP)
	} else {
		pv.keys = append(pv.keys, "nsp")
		pv.items = append(pv.items, strValue(m.NSP))
	}
	var err error
	m.Packet, err = packetFromValue(&pv, m.NSP)
	return err
}
