"""Subcommand modules of the ``xdpkt`` command line (see :mod:`xdpkt.cli`)."""
