"""Make what the engine returns readable and stable: plain values, normalised ids, tidy tables."""

from __future__ import annotations

import datetime as dt
import html
import json
import re
import textwrap
from decimal import Decimal
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
from boto3.dynamodb.types import TypeDeserializer

_DESERIALIZER = TypeDeserializer()
# A cell cut with "..." hides the evidence a chapter cites: show every cell in full (HTML tables wrap it).
pd.set_option("display.max_colwidth", None)
# Where the function code lives on this machine; a stack trace shows it as Lambda's /var/task instead.
CODE_ROOT = str(Path(__file__).resolve().parents[1] / "functions")
# ... and where the engine unpacked a function's code for one environment (its task root on AWS).
TASK_ROOT = re.compile(r"/[^\s\"']*/awslambda-[a-z0-9-]+-tasks/[^/\s\"']+/code(?=/)")

# Order matters: ARNs first (they contain account ids and uuids), then the loose forms.
PATTERNS = [
    (re.compile(r"arn:aws:[a-z0-9-]+:[a-z0-9-]*:\d{12}:[^\s\"',]+"), lambda m: arn_label(m.group(0))),
    (re.compile(r"\b[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\b"), lambda m: "<uuid>"),
    (re.compile(r"\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:?\d{2})?"), lambda m: "<time>"),
    (re.compile(r"\b\d{12}\b"), lambda m: "<account>"),
]
# The built page shows about 78 characters of a printed line before it scrolls sideways (76 in an exercise's
# solution, which is indented): wrap longer ones.
WIDTH = 74
UNIT = re.compile(r"(\d) (s|ms|%|KB|MB)\b")
# Unique-name suffixes made by Deployment.name(): "-" followed by 6 lowercase hex characters at the end.
SUFFIX = re.compile(r"-[0-9a-f]{6}\b")


def arn_label(arn: str) -> str:
    """A stable form of an ARN: the account as <account>, without unique suffixes and uuids."""
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return arn
    resource = SUFFIX.sub("", parts[5])
    resource = re.sub(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", "<uuid>", resource)
    return f"arn:aws:{parts[2]}:{parts[3]}:<account>:{resource}"


def normalise(value: Any) -> Any:
    """Replace ARNs, uuids, timestamps, account ids and unique suffixes so output is stable between runs."""
    if isinstance(value, dict):
        return {key: normalise(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [normalise(item) for item in value]
    if isinstance(value, (dt.datetime, dt.date)):
        return "<time>"
    if isinstance(value, str):
        value = TASK_ROOT.sub("/var/task", value.replace(CODE_ROOT, "/var/task"))
        for pattern, replace in PATTERNS:
            value = pattern.sub(replace, value)
        return SUFFIX.sub("", value)
    return value


def plain(item: dict) -> dict:
    """A DynamoDB item in attribute-value form as plain Python values (Decimals become int/float)."""
    return {key: _number(_DESERIALIZER.deserialize(value)) for key, value in item.items()}


def _number(value: Any) -> Any:
    """Turn Decimals (also nested) into int or float."""
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else float(value)
    if isinstance(value, dict):
        return {key: _number(item) for key, item in value.items()}
    if isinstance(value, (list, set)):
        return [_number(item) for item in value]
    return value


def table(rows: Iterable[dict], columns: list[str] | None = None, sort: str | list[str] | None = None) -> pd.DataFrame:
    """A tidy DataFrame from dicts, optionally restricted to columns and sorted."""
    frame = pd.DataFrame(list(rows))
    if columns:
        frame = frame.reindex(columns=columns)
    if sort is not None and not frame.empty:
        frame = frame.sort_values(sort).reset_index(drop=True)
    return frame


def pretty(value: Any) -> str:
    """Indented JSON of a normalised value, for printing in a chapter."""
    return json.dumps(normalise(value), indent=2, sort_keys=True, default=str)


def fill(text: str, width: int = WIDTH, indent: str = "  ") -> str:
    """A printed line wrapped to the page's width, its continuation lines indented; a number stays on the line
    of its unit ("2.0 s")."""
    text = UNIT.sub("\\1\u00a0\\2", text)  # textwrap breaks at ASCII spaces only
    wrapped = textwrap.fill(text, width, subsequent_indent=indent, break_long_words=False, break_on_hyphens=False)
    return wrapped.replace("\u00a0", " ")


def say(*parts: Any) -> None:
    """Print a sentence wrapped to the page's width, so that its end (often the measured value) stays in sight."""
    print(fill(" ".join(str(part) for part in parts), indent=""))


def link_label(url: str) -> str:
    """A short name for a documentation or pricing URL: its page ('step-functions pricing', 'error-handling')."""
    parts = [p for p in url.split("?")[0].split("/") if p and not p.startswith("http")][1:]
    if not parts:
        return url
    if "pricing" in parts[1:]:  # aws.amazon.com/<service>/pricing/[<page>/]
        return " ".join(parts[parts.index("pricing") - 1:])
    return parts[-1].removesuffix(".html")


def fitted(frame: pd.DataFrame, widths: dict[str, str] | None = None, links: tuple[str, ...] = (),
           font_size: str = "0.85em", escape: bool = True):
    """A table that fits the page's width instead of scrolling (a Styler), without the index. With `widths`
    (percentages by column) the columns have those widths and long cells wrap anywhere; without, the browser
    sizes the columns and wraps cells between words only. URL columns (`links`) show as short links;
    escape=False keeps HTML in the other cells."""
    def linked(value: Any) -> str:
        text = str(value)
        url, _, rest = text.partition(" ")
        label = html.escape(link_label(url))
        return f'<a href="{html.escape(url)}">{label}</a>{" " + html.escape(rest) if rest else ""}' \
            if url.startswith("http") else html.escape(text)

    styler = frame.style.hide(axis="index").format({c: linked for c in links})
    if escape:
        styler = styler.format(escape="html", subset=[c for c in frame.columns if c not in links])
    wrap = "anywhere" if widths else "normal"
    layout = [{"selector": "", "props": f"table-layout: {'fixed' if widths else 'auto'}; width: 100%; "
                                        f"font-size: {font_size}"},
              {"selector": "th", "props": f"overflow-wrap: {wrap}; vertical-align: bottom"}]
    layout += [{"selector": f"th.col_heading.col{n}", "props": f"width: {(widths or {})[column]}"}
               for n, column in enumerate(frame.columns) if column in (widths or {})]
    return (styler.set_table_attributes('class="dataframe"').set_table_styles(layout)
            .set_properties(**{"text-align": "left", "vertical-align": "top", "overflow-wrap": wrap}))
