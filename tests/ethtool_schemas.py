"""JSON schemas of `xdpkt ethtool --json`, one per verb (docs/ethtool.md lists the same keys).

Shared by tests/test_ethtool.py (kernel devices) and tests/test_ethtool_port.py (xdpkt Ports).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from xdpkt import ethtool as et

U32_OR_NULL: dict[str, Any] = {"type": ["integer", "null"], "minimum": 0, "maximum": 0xFFFFFFFF}
BOOL_OR_NULL: dict[str, Any] = {"type": ["boolean", "null"]}
NAMES: dict[str, Any] = {"type": "array", "items": {"type": "string"}}


def _obj(props: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": dict(props),
        "required": list(props),
        "additionalProperties": False,
    }


XDP_SCHEMA = _obj(
    {
        "ifname": {"type": "string"},
        "available": {"type": "boolean"},
        "native": {"type": "boolean"},
        "zero_copy": {"type": "boolean"},
        "xdp_features": NAMES,
        "xdp_zc_max_segs": U32_OR_NULL,
        "xdp_rx_metadata": NAMES,
        "xsk_features": NAMES,
    }
)
VPD_SCHEMA = _obj(
    {
        "product_name": {"type": ["string", "null"]},
        "part_number": {"type": ["string", "null"]},
        "serial_number": {"type": ["string", "null"]},
        "ec_level": {"type": ["string", "null"]},
        "manufacturer_id": {"type": ["string", "null"]},
        "vendor_fields": {"type": "object", "additionalProperties": {"type": "string"}},
        "keywords": {
            "type": "array",
            "items": _obj(
                {
                    "section": {"enum": ["VPD-R", "VPD-W"]},
                    "keyword": {"type": "string", "pattern": "^[A-Z0-9]{2}$"},
                    "value": {"type": "string"},
                    "hex": {"type": "string", "pattern": "^([0-9a-f]{2})*$"},
                }
            ),
        },
        "checksum_ok": BOOL_OR_NULL,
        "size": {"type": "integer", "minimum": 1},
    }
)
SCHEMAS: dict[str, dict[str, Any]] = {
    "-i": _obj(
        {
            "ifname": {"type": "string"},
            "driver": {"type": "string"},
            "version": {"type": "string"},
            "firmware_version": {"type": "string"},
            "expansion_rom_version": {"type": "string"},
            "bus_info": {"type": "string"},
            "n_priv_flags": {"type": "integer", "minimum": 0},
            "n_stats": {"type": "integer", "minimum": 0},
            "testinfo_len": {"type": "integer", "minimum": 0},
            "eedump_len": {"type": "integer", "minimum": 0},
            "regdump_len": {"type": "integer", "minimum": 0},
            "supports_statistics": {"type": "boolean"},
            "supports_test": {"type": "boolean"},
            "supports_eeprom_access": {"type": "boolean"},
            "supports_register_dump": {"type": "boolean"},
            "supports_priv_flags": {"type": "boolean"},
            "xdp": {"oneOf": [{"type": "null"}, XDP_SCHEMA]},
            "vpd": {"oneOf": [{"type": "null"}, VPD_SCHEMA]},
            "vpd_error": {"type": ["string", "null"]},
        }
    ),
    "-k": _obj(
        {
            "ifname": {"type": "string"},
            "features": {
                "type": "object",
                "minProperties": 1,
                "additionalProperties": _obj(
                    {
                        "active": {"type": "boolean"},
                        "requested": {"type": "boolean"},
                        "fixed": {"type": "boolean"},
                        "state": {
                            "type": "string",
                            "pattern": r"^(on|off)( \[fixed\]| \[requested (on|off)\])?$",
                        },
                    }
                ),
            },
            "legacy": {"type": "object", "additionalProperties": {"type": "boolean"}},
        }
    ),
    "-K": _obj(
        {
            "ifname": {"type": "string"},
            "requested": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "changed": NAMES,
            "unchanged": NAMES,
            "failed": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "fixed": NAMES,
            "side_effects": {"type": "object", "additionalProperties": {"type": "boolean"}},
            "actual_changes": NAMES,
            "ok": {"type": "boolean"},
        }
    ),
    "-g": _obj(
        {
            "ifname": {"type": "string"},
            **{
                k: U32_OR_NULL
                for k in (
                    "rx_max",
                    "rx_mini_max",
                    "rx_jumbo_max",
                    "tx_max",
                    "rx",
                    "rx_mini",
                    "rx_jumbo",
                    "tx",
                    "rx_buf_len",
                    "cqe_size",
                    "tx_push_buf_len",
                    "tx_push_buf_len_max",
                    "hds_thresh",
                    "hds_thresh_max",
                    "umem_frames",  # an xdpkt Port's UMEM; null for a kernel device
                    "umem_frame_size",
                )
            },
            "tcp_data_split": {"type": ["string", "null"]},
            "tx_push": BOOL_OR_NULL,
            "rx_push": BOOL_OR_NULL,
        }
    ),
    "-l": _obj(
        {
            "ifname": {"type": "string"},
            **{
                k: U32_OR_NULL
                for k in ("rx_max", "tx_max", "other_max", "combined_max", "rx", "tx", "other", "combined")
            },
        }
    ),
    "-c": _obj(
        {
            "ifname": {"type": "string"},
            **{
                k: (
                    BOOL_OR_NULL
                    if k in ("adaptive_rx", "adaptive_tx", "cqe_mode_rx", "cqe_mode_tx")
                    else U32_OR_NULL
                )
                for k in et.COALESCE_SETTABLE
            },
        }
    ),
    "-S": _obj(
        {
            "ifname": {"type": "string"},
            "stats": {"type": "object", "additionalProperties": {"type": "integer", "minimum": 0}},
        }
    ),
    "-x": _obj(
        {
            "ifname": {"type": "string"},
            "rx_rings": {"type": "integer", "minimum": 0},
            "indirection": {"type": "array", "items": {"type": "integer", "minimum": 0}},
            "key": {"type": "string", "pattern": "^([0-9a-f]{2}(:[0-9a-f]{2})*)?$"},
            "hfunc": {"type": ["string", "null"]},
            "hfuncs": {"type": "object", "additionalProperties": {"type": "boolean"}},
        }
    ),
}
# The set verbs print the new state, in the same shape as the matching read verb.
SCHEMAS["-G"] = SCHEMAS["-g"]
SCHEMAS["-C"] = SCHEMAS["-c"]
SCHEMAS["-L"] = SCHEMAS["-l"]
SCHEMAS["-X"] = SCHEMAS["-x"]

# `--list-ports --json`
PORTS_SCHEMA: dict[str, Any] = {
    "type": "array",
    "items": _obj(
        {
            "name": {"type": "string", "pattern": "^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},
            "pid": {"type": "integer", "minimum": 1},
            "ifname": {"type": "string"},
            "netns": {"type": ["string", "null"]},
            "channels": {"type": "integer", "minimum": 1},
            "mode": {"enum": ["zerocopy", "copy", "skb"]},
            "state": {"enum": ["idle", "forwarding", "closed"]},
        }
    ),
}
