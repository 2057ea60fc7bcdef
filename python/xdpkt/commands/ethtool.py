"""``xdpkt ethtool``: ethtool's option letters, parameter names and output, for kernel devices and Ports.

The text output of ``-i -k -g -c -l -S -x`` is line for line what Debian's ethtool 6.1 prints for the
same device; ``-i`` then adds XDP support (and PCI VPD, when the device has it) after ethtool's lines,
and ``-g`` on a Port its UMEM geometry. ``port:NAME`` is a running named Port, in this process or in
another (its control socket); ``--list-ports`` lists them.
``--json`` prints the verb's ``to_dict()`` (keys in docs/ethtool.md). Errors go to stderr, one line,
clearer than ethtool's; exit status 0 on success, 1 when the device refused or did not fully apply a
change, 2 for a bad argument.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from xdpkt import ethtool as et

_VERBS: tuple[tuple[str, tuple[str, ...], str], ...] = (
    ("-i", ("--driver",), "driver information (with XDP support and PCI VPD)"),
    ("-k", ("--show-features", "--show-offload"), "show features (offloads)"),
    ("-K", ("--features", "--offload"), "change features: NAME on|off ..."),
    ("-g", ("--show-ring",), "show ring sizes"),
    ("-G", ("--set-ring",), "change ring sizes: rx N tx N ..."),
    ("-c", ("--show-coalesce",), "show interrupt coalescing"),
    ("-C", ("--coalesce",), "change coalescing: rx-usecs N adaptive-rx on|off ..."),
    ("-l", ("--show-channels",), "show channel counts"),
    ("-L", ("--set-channels",), "change channel counts: rx N tx N other N combined N"),
    ("-S", ("--statistics",), "show NIC statistics"),
    ("-x", ("--show-rxfh-indir", "--show-rxfh"), "show RSS indirection table, key and hash function"),
    (
        "-X",
        ("--set-rxfh-indir", "--rxfh"),
        "change RSS: equal N | weight W... | default | hkey XX:.. | hfunc NAME",
    ),
)

RING_PARAMS = {
    "rx": "rx", "rx-mini": "rx_mini", "rx-jumbo": "rx_jumbo", "tx": "tx", "rx-buf-len": "rx_buf_len",
    "cqe-size": "cqe_size", "tx-push": "tx_push", "rx-push": "rx_push", "tx-push-buf-len": "tx_push_buf_len",
    "hds-thresh": "hds_thresh", "tcp-data-split": "tcp_data_split",
    # an xdpkt Port's UMEM (not ethtool's)
    "umem-frames": "umem_frames", "umem-frame-size": "umem_frame_size",
}  # fmt: skip
CHANNEL_PARAMS = {"rx": "rx", "tx": "tx", "other": "other", "combined": "combined"}
COALESCE_PARAMS = {name.replace("_", "-"): name for name in et.COALESCE_SETTABLE}


class UsageError(ValueError):
    """A bad command-line argument (exit status 2)."""


# --- text formats (ethtool 6.1's) -----------------------------------------------------------------


def _yn(v: bool) -> str:
    return "yes" if v else "no"


def _u32(label: str, v: int | None) -> str:
    return f"{label}{'n/a' if v is None else v}"


def _bool(v: bool | None) -> str:
    return "n/a" if v is None else ("on" if v else "off")


def format_driver_info(d: et.DriverInfo) -> str:
    lines = [
        f"driver: {d.driver}",
        f"version: {d.version}",
        f"firmware-version: {d.firmware_version}",
        f"expansion-rom-version: {d.expansion_rom_version}",
        f"bus-info: {d.bus_info}",
        f"supports-statistics: {_yn(d.supports_statistics)}",
        f"supports-test: {_yn(d.supports_test)}",
        f"supports-eeprom-access: {_yn(d.supports_eeprom_access)}",
        f"supports-register-dump: {_yn(d.supports_register_dump)}",
        f"supports-priv-flags: {_yn(d.supports_priv_flags)}",
    ]
    # After ethtool's lines: what ethtool 6.1 does not show.
    if d.xdp is None or not d.xdp.available:
        lines.append("xdp-native: unknown (this kernel has no netdev netlink family)")
        lines.append("af-xdp-zero-copy: unknown")
    else:
        x = d.xdp
        lines.append(f"xdp-native: {_yn(x.native)}")
        lines.append(f"af-xdp-zero-copy: {_yn(x.zero_copy)}")
        lines.append(f"xdp-features: {' '.join(x.xdp_features) or 'none'}")
        if x.xdp_zc_max_segs is not None:
            lines.append(f"xdp-zc-max-segs: {x.xdp_zc_max_segs}")
        lines.append(f"xdp-rx-metadata: {' '.join(x.xdp_rx_metadata) or 'none'}")
        lines.append(f"xsk-features: {' '.join(x.xsk_features) or 'none'}")
    if d.vpd_error is not None:
        lines.append(f"vpd: unreadable: {d.vpd_error}")
    elif d.vpd is not None:
        v = d.vpd
        lines.append(f"vpd-product-name: {v.product_name or ''}")
        for label, value in (
            ("part-number", v.part_number),
            ("serial-number", v.serial_number),
            ("ec-level", v.ec_level),
            ("manufacturer-id", v.manufacturer_id),
        ):
            if value is not None:
                lines.append(f"vpd-{label}: {value}")
        for key, value in v.vendor_fields.items():
            lines.append(f"vpd-{key}: {value}")
        if v.checksum_ok is None:
            lines.append("vpd-checksum: absent")
    return "\n".join(lines) + "\n"


def format_features(f: et.Features) -> str:
    """ethtool's netlink ``-k`` layout: legacy groups with their members, then the rest."""
    out = [f"Features for {f.ifname}:"]
    group_of = {feat.name: et.legacy_group(feat.name) for feat in f.items}
    for i, (_short, long_name, _pattern) in enumerate(et.LEGACY_FEATURES):
        if long_name == "udp-fragmentation-offload":
            continue  # no kernel with the netlink interface has UFO
        members = [feat for feat in f.items if group_of[feat.name] == i]
        if len(members) != 1:
            out.append(f"{long_name}: {'on' if any(m.active for m in members) else 'off'}")
        for m in members:
            if len(members) == 1:
                out.append(f"{long_name}: {m.state}")
            else:
                out.append(f"\t{m.name}: {m.state}")
    for feat in f.items:
        if group_of[feat.name] is None:
            out.append(f"{feat.name}: {feat.state}")
    return "\n".join(out) + "\n"


def format_rings(r: et.Rings) -> str:
    lines = [
        f"Ring parameters for {r.ifname}:",
        "Pre-set maximums:",
        _u32("RX:\t\t", r.rx_max),
        _u32("RX Mini:\t", r.rx_mini_max),
        _u32("RX Jumbo:\t", r.rx_jumbo_max),
        _u32("TX:\t\t", r.tx_max),
        "Current hardware settings:",
        _u32("RX:\t\t", r.rx),
        _u32("RX Mini:\t", r.rx_mini),
        _u32("RX Jumbo:\t", r.rx_jumbo),
        _u32("TX:\t\t", r.tx),
        _u32("RX Buf Len:\t\t", r.rx_buf_len),
        _u32("CQE Size:\t\t", r.cqe_size),
        f"TX Push:\t{_bool(r.tx_push)}",
        f"TCP data split:\t{'n/a' if r.tcp_data_split in (None, 'unknown') else r.tcp_data_split}",
    ]
    # After ethtool's lines: an xdpkt Port's UMEM, which ethtool does not know.
    if r.umem_frames is not None:
        lines.append(f"UMEM frames:\t\t{r.umem_frames}")
    if r.umem_frame_size is not None:
        lines.append(f"UMEM frame size:\t{r.umem_frame_size}")
    return "\n".join(lines) + "\n"


def format_channels(c: et.Channels) -> str:
    lines = [f"Channel parameters for {c.ifname}:", "Pre-set maximums:"]
    for prefix in ("_max", ""):
        if not prefix:
            lines.append("Current hardware settings:")
        lines += [
            _u32("RX:\t\t", getattr(c, f"rx{prefix}")),
            _u32("TX:\t\t", getattr(c, f"tx{prefix}")),
            _u32("Other:\t\t", getattr(c, f"other{prefix}")),
            _u32("Combined:\t", getattr(c, f"combined{prefix}")),
        ]
    return "\n".join(lines) + "\n"


def format_coalesce(c: et.Coalesce) -> str:
    # ethtool 6.1 still prints -c with "name: value" (its tab-aligned layout came later).
    lines = [
        f"Coalesce parameters for {c.ifname}:",
        f"Adaptive RX: {_bool(c.adaptive_rx)}  TX: {_bool(c.adaptive_tx)}",
        _u32("stats-block-usecs: ", c.stats_block_usecs),
        _u32("sample-interval: ", c.sample_interval),
        _u32("pkt-rate-low: ", c.pkt_rate_low),
        _u32("pkt-rate-high: ", c.pkt_rate_high),
        "",
        _u32("rx-usecs: ", c.rx_usecs),
        _u32("rx-frames: ", c.rx_frames),
        _u32("rx-usecs-irq: ", c.rx_usecs_irq),
        _u32("rx-frames-irq: ", c.rx_frames_irq),
        "",
        _u32("tx-usecs: ", c.tx_usecs),
        _u32("tx-frames: ", c.tx_frames),
        _u32("tx-usecs-irq: ", c.tx_usecs_irq),
        _u32("tx-frames-irq: ", c.tx_frames_irq),
        "",
        _u32("rx-usecs-low: ", c.rx_usecs_low),
        _u32("rx-frame-low: ", c.rx_frames_low),
        _u32("tx-usecs-low: ", c.tx_usecs_low),
        _u32("tx-frame-low: ", c.tx_frames_low),
        "",
        _u32("rx-usecs-high: ", c.rx_usecs_high),
        _u32("rx-frame-high: ", c.rx_frames_high),
        _u32("tx-usecs-high: ", c.tx_usecs_high),
        _u32("tx-frame-high: ", c.tx_frames_high),
        "",
        f"CQE mode RX: {_bool(c.cqe_mode_rx)}  TX: {_bool(c.cqe_mode_tx)}",
        "",
    ]
    return "\n".join(lines) + "\n"


def format_stats(s: et.Stats) -> str:
    return "NIC statistics:\n" + "".join(f"     {name}: {value}\n" for name, value in s.items)


def format_rss(r: et.Rss) -> str:
    lines = [f"RX flow hash indirection table for {r.ifname} with {r.rx_rings} RX ring(s):"]
    if not r.indirection:
        lines.append("Operation not supported")
    for start in range(0, len(r.indirection), 8):
        row = r.indirection[start : start + 8]
        lines.append(f"{start:5d}: " + "".join(f" {q:5d}" for q in row))
    lines.append("RSS hash key:")
    if not r.key:
        lines.append("Operation not supported")
    else:
        lines.append(":".join(f"{b:02x}" for b in r.key))
    lines.append("RSS hash function:")
    if not any(active for _n, active in r.hfuncs):
        lines.append("    Operation not supported")
    else:
        lines += [f"    {name}: {'on' if active else 'off'}" for name, active in r.hfuncs]
    return "\n".join(lines) + "\n"


# --- argument parsing for the set verbs -----------------------------------------------------------


def _parse_onoff(param: str, text: str | None) -> bool:
    if text not in ("on", "off"):
        raise UsageError(
            f"{param}: 'on' or 'off', got {text!r}" if text is not None else f"{param}: needs on|off"
        )
    return text == "on"


def _parse_uint(param: str, text: str | None) -> int:
    if text is None:
        raise UsageError(f"{param}: needs a number")
    try:
        v = int(text, 0)
    except ValueError:
        raise UsageError(f"{param}: a non-negative integer, got {text!r}") from None
    if not 0 <= v <= 0xFFFFFFFF:
        raise UsageError(f"{param}: in 0..4294967295, got {v}")
    return v


def parse_feature_args(params: Sequence[str]) -> dict[str, bool]:
    if not params or len(params) % 2:
        raise UsageError("-K: give NAME on|off pairs, e.g. `-K DEV rx-gro on tx-tcp-segmentation off`")
    out: dict[str, bool] = {}
    for name, value in zip(params[::2], params[1::2], strict=True):
        out[name] = _parse_onoff(name, value)
    return out


def parse_params(verb: str, params: Sequence[str], table: dict[str, str], bools: set[str]) -> dict[str, Any]:
    if not params:
        raise UsageError(f"{verb}: give at least one of {', '.join(table)}")
    out: dict[str, Any] = {}
    i = 0
    while i < len(params):
        name = params[i]
        if name not in table:
            raise UsageError(f"{verb}: unknown parameter {name!r}; allowed: {', '.join(table)}")
        value = params[i + 1] if i + 1 < len(params) else None
        field = table[name]
        if field in bools:
            out[field] = _parse_onoff(name, value)
        elif field == "tcp_data_split":
            if value not in ("on", "off", "auto"):
                raise UsageError(f"tcp-data-split: 'on', 'off' or 'auto', got {value!r}")
            out[field] = value
        else:
            out[field] = _parse_uint(name, value)
        i += 2
    return out


def parse_rxfh_args(params: Sequence[str]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    i = 0
    keywords = ("equal", "weight", "default", "hkey", "hfunc")
    while i < len(params):
        word = params[i]
        if word == "equal":
            out["equal"] = _parse_uint("equal", params[i + 1] if i + 1 < len(params) else None)
            i += 2
        elif word == "weight":
            j = i + 1
            weights = []
            while j < len(params) and params[j] not in keywords:
                weights.append(_parse_uint("weight", params[j]))
                j += 1
            if not weights:
                raise UsageError("weight: needs one weight per RX ring")
            out["weight"] = weights
            i = j
        elif word == "default":
            out["default"] = True
            i += 1
        elif word == "hkey":
            text = params[i + 1] if i + 1 < len(params) else ""
            try:
                out["key"] = bytes(int(x, 16) for x in text.split(":"))
            except ValueError:
                raise UsageError(f"hkey: hex bytes separated by ':', got {text!r}") from None
            i += 2
        elif word == "hfunc":
            if i + 1 >= len(params):
                raise UsageError("hfunc: needs a hash function name (see -x)")
            out["hfunc"] = params[i + 1]
            i += 2
        else:
            raise UsageError(f"-X: unknown parameter {word!r}; allowed: {', '.join(keywords)}")
    if not out:
        raise UsageError(f"-X: give at least one of {', '.join(keywords)}")
    return out


# --- running --------------------------------------------------------------------------------------


def _emit(args: argparse.Namespace, obj: Any, text: Callable[[Any], str]) -> None:
    if args.json:
        print(json.dumps(obj.to_dict(), indent=2, sort_keys=False))
    else:
        sys.stdout.write(text(obj))


def _driver(b: et.EthtoolBackend) -> str:
    try:
        return b.driver_info().driver
    except OSError:
        return f"the driver of {b.ifname}"


def format_ports(ports: Sequence[dict[str, Any]]) -> str:
    if not ports:
        return "no xdpkt Port is running\n"
    head = ("NAME", "PID", "INTERFACE", "NETNS", "CHANNELS", "MODE", "STATE")
    rows = [head] + [
        tuple(
            "-" if p.get(k) is None else str(p[k])
            for k in ("name", "pid", "ifname", "netns", "channels", "mode", "state")
        )
        for p in ports
    ]
    widths = [max(len(r[i]) for r in rows) for i in range(len(head))]
    lines = ("  ".join(c.ljust(w) for c, w in zip(r, widths, strict=True)).rstrip() for r in rows)
    return "".join(f"{line}\n" for line in lines)


def _list_ports(args: argparse.Namespace) -> int:
    if args.verb is not None or args.dev is not None or args.params:
        print("xdpkt ethtool: --list-ports takes no device, verb or parameters", file=sys.stderr)
        return 2
    try:
        ports = et.list_ports()
    except OSError as e:
        print(f"xdpkt ethtool: {e.strerror or e}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(ports, indent=2))
    else:
        sys.stdout.write(format_ports(ports))
    return 0


def run(args: argparse.Namespace) -> int:
    if args.list_ports:
        return _list_ports(args)
    verb: str | None = args.verb
    if args.dev is None:
        print(
            "xdpkt ethtool: give a device (an interface name or port:NAME), or --list-ports",
            file=sys.stderr,
        )
        return 2
    if verb is None:
        print(
            "xdpkt ethtool: give one of " + " ".join(v for v, _a, _h in _VERBS) + " (see --help)",
            file=sys.stderr,
        )
        return 2
    params: list[str] = args.params
    try:
        b = et.backend(args.dev, args.netns)
        if verb in ("-i", "-k", "-g", "-c", "-l", "-S", "-x") and params:
            raise UsageError(f"{verb}: unexpected parameter {params[0]!r}")
        if verb == "-i":
            _emit(args, b.driver_info(), format_driver_info)
        elif verb == "-k":
            _emit(args, b.features(), format_features)
        elif verb == "-g":
            _emit(args, b.rings(), format_rings)
        elif verb == "-c":
            _emit(args, b.coalesce(), format_coalesce)
        elif verb == "-l":
            _emit(args, b.channels(), format_channels)
        elif verb == "-S":
            _emit(args, b.stats(), format_stats)
        elif verb == "-x":
            _emit(args, b.rss(), format_rss)
        elif verb == "-K":
            return _set_features(args, b, parse_feature_args(params))
        elif verb == "-G":
            ring_args = parse_params("-G", params, RING_PARAMS, {"tx_push", "rx_push"})
            with _mode_watch(args, b):
                new_rings = b.set_rings(ring_args)
            if args.json:
                print(json.dumps(new_rings.to_dict(), indent=2))
        elif verb == "-C":
            bools = {"adaptive_rx", "adaptive_tx", "cqe_mode_rx", "cqe_mode_tx"}
            new_coal = b.set_coalesce(parse_params("-C", params, COALESCE_PARAMS, bools))
            if args.json:
                print(json.dumps(new_coal.to_dict(), indent=2))
        elif verb == "-L":
            channel_args = parse_params("-L", params, CHANNEL_PARAMS, set())
            with _mode_watch(args, b):
                new_ch = b.set_channels(channel_args)
            if args.json:
                print(json.dumps(new_ch.to_dict(), indent=2))
        elif verb == "-X":
            opts = parse_rxfh_args(params)
            new_rss = et.set_rss(_Adapter(b), **opts)
            if args.json:
                print(json.dumps(new_rss.to_dict(), indent=2))
    except UsageError as e:
        print(f"xdpkt ethtool: {e}", file=sys.stderr)
        return 2
    except (ValueError, TypeError) as e:
        print(f"xdpkt ethtool: {e}", file=sys.stderr)
        return 2
    except PermissionError as e:
        print(f"xdpkt ethtool: {e.strerror or e}", file=sys.stderr)
        return 1
    except OSError as e:
        print(f"xdpkt ethtool: {e.strerror or e}", file=sys.stderr)
        return 1
    return 0


@contextlib.contextmanager
def _mode_watch(args: argparse.Namespace, b: et.EthtoolBackend) -> Iterator[None]:
    """-G and -L reopen a Port, which may come back in another AF_XDP mode: say so on stderr."""
    if not str(args.dev).startswith("port:"):
        yield
        return
    before = b.driver_info().bus_info
    yield
    after = b.driver_info().bus_info
    if after != before:
        print(f"xdpkt ethtool: note: {b.ifname} was {before}, now {after}", file=sys.stderr)


class _Adapter:
    """Hands an already-resolved backend to the module-level verbs."""

    def __init__(self, b: et.EthtoolBackend) -> None:
        self._b = b

    def ethtool_backend(self) -> et.EthtoolBackend:
        return self._b


def _set_features(args: argparse.Namespace, b: et.EthtoolBackend, changes: dict[str, bool]) -> int:
    change = b.set_features(changes)
    if args.json:
        print(json.dumps(change.to_dict(), indent=2))
    elif change.actual_changes:
        sys.stdout.write("Actual changes:\n" + "".join(f"{line}\n" for line in change.actual_changes))
    if change.nothing_changed:
        print("Could not change any device features", file=sys.stderr)
    if not change.ok:
        print(f"xdpkt ethtool: {change.ifname}: {change.describe(_driver(b))}", file=sys.stderr)
        return 1
    return 0


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "ethtool",
        help="ethtool-like device controls: -i -k -K -g -G -c -C -l -L -S -x -X",
        description=(
            "Query and change a network device the way ethtool does, with ethtool's option letters, "
            "feature names and states; the text output of -i -k -g -c -l -S -x matches Debian's "
            "ethtool 6.1 line for line (-i adds XDP support and PCI VPD after ethtool's lines). DEV is "
            "an interface name (with --netns NS for a namespace under /var/run/netns) or port:NAME "
            "for a running xdpkt Port created with name=NAME, in this process or another one "
            "(reached through /run/xdpkt/port-NAME.sock; --list-ports lists them)."
        ),
    )
    group = p.add_mutually_exclusive_group()
    for letter, longs, help_text in _VERBS:
        group.add_argument(letter, *longs, dest="verb", action="store_const", const=letter, help=help_text)
    p.add_argument("dev", metavar="DEV", nargs="?", default=None, help="interface name, or port:NAME")
    p.add_argument("params", metavar="ARGS", nargs="*", help="parameters of -K -G -C -L -X, as ethtool's")
    p.add_argument("--json", action="store_true", help="print the result as JSON (keys in docs/ethtool.md)")
    p.add_argument("--netns", metavar="NS", default=None, help="the namespace (under /var/run/netns) of DEV")
    p.add_argument(
        "--list-ports", action="store_true", help="list the running named xdpkt Ports (port:NAME), then exit"
    )
    p.set_defaults(func=run, verb=None)
