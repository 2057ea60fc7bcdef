"""xdpkt: AF_XDP packet I/O for Python with a Rust core."""

from xdpkt.socket import Batch, PacketView, Socket

__all__ = ["Batch", "PacketView", "Socket"]
