"""xdpkt: a user-space NIC datapath for Python (AF_XDP, GRO/GSO with Linux kernel semantics).

The offline offloads need no privileges::

    import xdpkt
    segments = xdpkt.gso.segment(frame, mss=1448)      # TSO/USO: list[bytes]
    packets = xdpkt.gro.coalesce(frames)               # GRO over one batch: list[xdpkt.Packet]
"""

from xdpkt import ethtool, gro, gso
from xdpkt._xdpkt import Packet, PacketError, XdpktError, __version__
from xdpkt.port import Port, PortConfig
from xdpkt.socket import Batch, PacketView, Socket

__all__ = [
    "Batch",
    "Packet",
    "PacketError",
    "PacketView",
    "Port",
    "PortConfig",
    "Socket",
    "XdpktError",
    "__version__",
    "ethtool",
    "gro",
    "gso",
]
