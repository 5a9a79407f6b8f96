"""Attribute values that read like the documents the authorities issue.

A demo is only convincing when case numbers look like "(2024)京0105执1234号"
and decisions cite the district's own bureau, and a validator is only
exercised when every declared attribute gets a value of its type. So known
attributes get realistic texts, built from the record's year, district and
sequence number (a defaulter's performance shares its listing's case
number), and any attribute added to the catalogue later still gets a typed
value from the fallback. Values are JSON-encoded column-wise, one item at a
time, with pyarrow.compute.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from credence.core.catalogue import AttributeSpec, AttributeType, CatalogueItem, Severity
from credence.synth.arrays import Bools
from credence.synth.districts import DISTRICTS, district_texts
from credence.synth.items import ItemTable
from credence.synth.population import Population
from credence.synth.records import Rows
from credence.synth.text import iso_dates, join, lit, num, padded, pick, quoted

OPTIONAL_SHARE = 0.6  # optional attributes present in about this share of rows

_CASE_TYPE = {  # the case-type characters of a court case number
    "judicial.defaulter-listed": "执",
    "judicial.defaulter-performed": "执",
    "judicial.consumption-restriction": "执",
    "judicial.bribery-conviction": "刑初",
    "judicial.fraud-conviction": "刑初",
    "judicial.false-litigation": "司惩",
}
# Heads of document numbers, by (item, attribute) or (source, attribute). Chinese heads
# give "京朝市监处罚〔2024〕123号", digits give "1101052024000123", letters "CF-2024-000123".
_DOC_HEADS = {
    ("market-regulator", "decision_number"): "京{d}市监处罚",
    ("environment-bureau", "decision_number"): "京{d}环保罚字",
    ("work-safety", "decision_number"): "京{d}应急罚",
    ("tax-bureau", "decision_number"): "京{d}税稽罚",
    ("tax-bureau", "notice_number"): "京{d}税欠公告",
    ("traffic-police", "decision_number"): "{code}",
    ("railway", "decision_number"): "TL",
    ("education", "decision_number"): "JYKS",
    ("social.academic-misconduct", "decision_number"): "KYCX",
    ("labour-bureau", "decision_number"): "京{d}人社监罚",
    ("labour-bureau", "notice_number"): "京{d}社保稽核",
    ("procurement", "decision_number"): "京财采处",
    ("civil-affairs", "decision_number"): "京{d}民罚",
}
_AUTHORITY = {
    "market-regulator": "北京市{name}市场监督管理局",
    "environment-bureau": "北京市生态环境局",
    "work-safety": "北京市{name}应急管理局",
    "tax-bureau": "国家税务总局北京市{name}税务局",
    "labour-bureau": "北京市{name}人力资源和社会保障局",
    "procurement": "北京市财政局",
    "civil-affairs": "北京市民政局",
}
_FINES: dict[str, tuple[int, ...]] = {
    "administrative.traffic-minor": (20, 50, 100, 200),
    "administrative.traffic-red-light": (200,),
    "administrative.drunk-driving": (1000, 1500, 2000),
}
_CHOICES: dict[str, tuple[str, ...]] = {
    "reason": (
        "未按规定报送年度报告",
        "通过登记的住所或者经营场所无法联系",
        "未按规定公示即时信息",
        "公示企业信息隐瞒真实情况、弄虚作假",
    ),
    "lender": (
        "中国工商银行北京市分行",
        "中国建设银行北京市分行",
        "招商银行北京分行",
        "北京银行",
        "北京农商银行",
        "马上消费金融股份有限公司",
    ),
    "award": ("北京市人民政府质量管理奖", "中国质量奖提名奖", "区长质量奖"),
    "honour": ("全国劳动模范", "全国先进工作者", "全国五一劳动奖章", "全国三八红旗手"),
    "licence_type_org": (
        "食品经营许可证",
        "道路运输经营许可证",
        "建筑业企业资质证书",
        "医疗器械经营许可证",
        "危险化学品经营许可证",
    ),
    "licence_type_person": ("医师执业证书", "律师执业证", "导游证", "道路运输从业资格证"),
}


def attributes_column(
    rows: Rows, items: ItemTable, pop: Population, rng: np.random.Generator
) -> Any:
    """Attributes for a whole chunk: built item by item, then put back in row order."""
    order = np.argsort(rows.item, kind="stable")
    bounds = np.searchsorted(rows.item[order], np.arange(len(items.codes) + 1))
    parts = []
    for index in range(len(items.codes)):
        lo, hi = int(bounds[index]), int(bounds[index + 1])
        if lo == hi:
            continue
        sub = rows.take(order[lo:hi])
        is_org = sub.subject < pop.organisations
        source = items.sources[int(items.source_of[index])].name
        parts.append(_attributes_json(items.item(index), source, sub, is_org, rng))
    if not parts:
        return pa.array([], type=pa.string())
    grouped = pa.chunked_array(parts, type=pa.string()).combine_chunks()
    inverse = np.empty_like(order)
    inverse[order] = np.arange(order.size)
    return pc.take(grouped, pa.array(inverse))


def _attributes_json(
    item: CatalogueItem,
    source: str,
    rows: Rows,
    is_org: Bools,
    rng: np.random.Generator,
) -> Any:
    """The attributes column for rows of one item: a JSON object, or empty when none."""
    n = rows.item.size
    if not item.attributes:
        return pa.nulls(n, pa.string()).fill_null("")
    pieces = []
    for name, spec in item.attributes.items():
        piece = join(f',"{name}":', _attribute(name, spec, item, source, rows, is_org, rng))
        if not spec.required:
            piece = pc.if_else(pa.array(rng.random(n) < OPTIONAL_SHARE), piece, lit(""))
        pieces.append(piece)
    body = join(*pieces)
    empty = pc.equal(pc.binary_length(body), pa.scalar(0, type=pa.int32()))
    return pc.if_else(empty, lit(""), join("{", pc.utf8_slice_codeunits(body, 1), "}"))


def _attribute(
    name: str,
    spec: AttributeSpec,
    item: CatalogueItem,
    source: str,
    rows: Rows,
    is_org: Bools,
    rng: np.random.Generator,
) -> Any:
    """JSON-encoded values of attribute `name` for `rows` of `item`."""
    value = _document_text(name, item, source, rows)
    if value is None:
        value = _drawn_value(name, item, rows, is_org, rng)
    if value is None and name in _CHOICES:
        texts = _CHOICES[name]
        value = quoted(pick(texts, rng.integers(0, len(texts), size=rows.item.size)))
    if value is None:
        value = _fallback(name, spec, rows, rng)
    return value


def _document_text(name: str, item: CatalogueItem, source: str, rows: Rows) -> Any | None:
    """Numbers and names of the documents behind the record, or None for other attributes.

    These follow from the record's year, district and sequence number alone,
    so the same case gives the same texts wherever it appears.
    """
    if name == "case_number":
        court = pick([d[1] for d in DISTRICTS], rows.district)
        kind = _CASE_TYPE.get(item.code, "民初")
        return quoted(join("(", num(rows.year), ")", court, kind, num(rows.seq), "号"))
    if name == "court":
        return quoted(pick(district_texts("北京市{name}人民法院"), rows.district))
    if name in ("decision_number", "notice_number"):
        head = _DOC_HEADS.get((item.code, name)) or _DOC_HEADS.get((source, name), "CF")
        return quoted(_document_number(head, rows))
    if name == "authority":
        return quoted(pick(district_texts(_AUTHORITY.get(source, "北京市人民政府")), rows.district))
    if name == "licence_number":
        region = pick([d[0] for d in DISTRICTS], rows.district)
        return quoted(join("JY", region, num(rows.year), padded(rows.seq, 6)))
    if name == "certificate_number":
        region = pick([d[0][:4] for d in DISTRICTS], rows.district)
        return quoted(join("AEOCN", region, padded(rows.seq, 6)))
    if name == "valid_until":
        return quoted(iso_dates(rows.occurred + 5 * 365 + 1))
    if name == "year":  # ratings are published in the spring for the previous year
        return num(rows.year - 1)
    return None


def _drawn_value(
    name: str, item: CatalogueItem, rows: Rows, is_org: Bools, rng: np.random.Generator
) -> Any | None:
    """Amounts, counts and kinds drawn at random, or None for other attributes."""
    n = rows.item.size
    if name == "fine":
        return _fine(item, is_org, rng, n)
    if name == "amount":
        return _money(rng, n, 800.0 if item.area == "social" else 30_000.0)
    if name == "ground":  # listing grounds 1-6; refusal to perform when able is most common
        return num(rng.choice(6, size=n, p=[0.6, 0.1, 0.1, 0.05, 0.1, 0.05]) + 1)
    if name == "licence_type":
        org = pick(_CHOICES["licence_type_org"], rng.integers(0, 5, size=n))
        person = pick(_CHOICES["licence_type_person"], rng.integers(0, 4, size=n))
        return quoted(pc.if_else(pa.array(is_org), org, person))
    if name == "days_overdue":
        return num(90 + rng.geometric(1 / 120, size=n))
    if name == "hours":
        return num(np.clip(rng.lognormal(3.0, 1.0, size=n).astype(np.int64), 1, 2000))
    if name == "level":
        return quoted(pick(("national", "provincial"), (rng.random(n) < 0.9).astype(np.int64)))
    return None


def _fallback(name: str, spec: AttributeSpec, rows: Rows, rng: np.random.Generator) -> Any:
    """A typed value for an attribute this module has no special knowledge of."""
    n = rows.item.size
    if spec.type is AttributeType.STRING:
        tag = name.upper().replace("_", "-")
        return quoted(join(tag, "-", num(rows.year), "-", padded(rows.seq, 6)))
    if spec.type is AttributeType.INTEGER:
        return num(rng.integers(1, 100, size=n))
    if spec.type is AttributeType.NUMBER:
        return _money(rng, n, 10_000.0)
    if spec.type is AttributeType.DATE:
        return quoted(iso_dates(rows.occurred))
    return pick(("false", "true"), rng.integers(0, 2, size=n))


def _money(rng: np.random.Generator, n: int, median: float) -> Any:
    """Amounts in CNY, some with fen: JSON numbers like 48213 or 1520.75."""
    yuan = np.maximum(1, rng.lognormal(np.log(median), 1.2, size=n).astype(np.int64))
    fen = np.where(rng.random(n) < 0.5, 0, rng.integers(1, 100, size=n))
    plain = num(yuan)
    return pc.if_else(pa.array(fen > 0), join(plain, ".", padded(fen, 2)), plain)


def _fine(item: CatalogueItem, is_org: Bools, rng: np.random.Generator, n: int) -> Any:
    """Fines in whole yuan by severity; people are fined about a tenth of what firms are."""
    choices = _FINES.get(item.code)
    if choices is not None:
        return num(np.array(choices, dtype=np.int64)[rng.integers(0, len(choices), size=n)])
    if item.severity is Severity.MINOR:
        small = np.array([200, 500, 1000, 2000, 3000, 5000], dtype=np.int64)
        fine = small[rng.integers(0, small.size, size=n)]
    elif item.severity is Severity.ORDINARY:
        fine = rng.integers(1, 100, size=n) * 1000
    else:
        fine = rng.integers(5, 500, size=n) * 10_000
    return num(np.where(is_org, fine, np.maximum(fine // 1000 * 100, 50)))


def _document_number(head: str, rows: Rows) -> Any:
    """A document number under `head` (see _DOC_HEADS) for each row's district, year, seq."""
    heads = pick(district_texts(head), rows.district)
    year = num(rows.year)
    if head.isascii() and not head.startswith("{"):
        return join(heads, "-", year, "-", padded(rows.seq, 6))
    if head == "{code}":
        return join(heads, year, padded(rows.seq, 6))
    return join(heads, "〔", year, "〕", num(rows.seq), "号")
