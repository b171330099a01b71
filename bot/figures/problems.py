"""Key problems (`/problems`): where, and about what, reports cluster.

Two reports are neighbours when they share a category, their words are alike (cosine similarity of TF-IDF over
dictionary forms) and they are close: within `radius_m` of each other when both have coordinates, or at the same
normalised address text when neither has. Groups are DBSCAN clusters of that neighbourhood graph; a cluster that
chains further than `radius_m` from its centre is split into hot spots around its densest reports, so a problem is
always one place. In a crowded spot each report keeps only its most alike neighbours, so memory grows with the
number of reports, not its square. Everything here is pure and CPU-bound: call `key_problems` from async code.
"""

from __future__ import annotations

import asyncio
import heapq
import math
import re
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import quote

import numpy as np
import pymorphy3
from scipy import sparse
from sklearn.cluster import DBSCAN
from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS, TfidfVectorizer
from sklearn.neighbors import BallTree

EARTH_RADIUS_M = 6_371_000.0
# Below this cosine similarity two reports' words are taken as about different things.
MIN_SIMILARITY = 0.12
# Candidate pairs are looked at about this many at a time, so memory stays bounded on dense input.
PAIRS = 1_000_000
# The most alike neighbours a report keeps; a spot with more is still one connected group.
NEIGHBOURS = 64
LABEL_WORDS = 4

# Russian words that say nothing about a problem: function words, pronouns and the politeness of a letter.
_RUSSIAN_STOP_TEXT = """
    а без более больше будто бы быть в вам вас ваш ведь весь вдруг во вот впрочем все всегда всего всё вы где да
    даже для до добрый другой его ее её ему если есть еще ещё же за зачем здесь здравствовать здравствуйте и из или
    им иногда их к как какой когда конечно ко который кто куда ли лучше между меня мне много мной мочь мой мы на над
    надо наконец наш не него нее неё нельзя нет ни нибудь никогда ним них ничто ничего но ну о об один он она они
    оно опять от очень перед по под пожалуйста после потом потому почему почти при про просить прошу раз разве с
    сам свой себя сейчас со совсем спасибо так также такой там твой те тем теперь то тогда того тоже только том тот
    тут ты у уважаемый уж уже хоть хотеть чем через что чтобы чтоб чуть это этот я
    помогите помочь разобраться принять мера срочно сделать проблема нужно необходимо
    ул улица пр проспект пер переулок д дом кв корп г город ш наб пл бул мкр район возле около напротив рядом
"""
RUSSIAN_STOP_WORDS = frozenset(_RUSSIAN_STOP_TEXT.split())
STOP_WORDS = RUSSIAN_STOP_WORDS | ENGLISH_STOP_WORDS
# Where pymorphy3's equally likely parses pick a rare word over the city one ("ямы" is also the plural of "ям").
NORMAL_FORM_FIXES = {"ям": "яма"}
# Address abbreviations spelled out, so "ул. Ленина, д. 5" and "улица Ленина 5" meet.
ADDRESS_ABBREVIATIONS = {
    "ул": "улица",
    "д": "дом",
    "г": "город",
    "пр": "проспект",
    "просп": "проспект",
    "пер": "переулок",
    "ш": "шоссе",
    "наб": "набережная",
    "пл": "площадь",
    "бул": "бульвар",
    "мкр": "микрорайон",
    "мкрн": "микрорайон",
    "обл": "область",
    "корп": "корпус",
    "стр": "строение",
}
# Words that only say what kind of place follows; writers leave them out as often as not.
ADDRESS_GENERIC = frozenset({"улица", "дом", "город", "область"})

WORD = re.compile(r"[^\W\d_]+")
ADDRESS_TOKEN = re.compile(r"[^\W_]+")
CYRILLIC = re.compile(r"[а-я]")

_morph_lock = threading.Lock()
_morph: Any = None


@dataclass(frozen=True, slots=True)
class Sample:
    """One report as the clustering sees it."""

    id: int
    category_id: int
    description: str
    latitude: float | None
    longitude: float | None
    address: str | None


@dataclass(frozen=True, slots=True)
class Problem:
    """A group of reports about one thing at one place."""

    count: int
    # The report nearest the group's centre, in place and in words.
    representative: int
    report_ids: tuple[int, ...]
    category_id: int
    # The 2-4 most telling words, in dictionary form: "яма, асфальт, двор".
    label: str
    # The centre; None when the group is by address text.
    latitude: float | None
    longitude: float | None
    address: str | None


def _analyzer() -> Any:
    """The one Russian morphological analyzer of the process, made on first use (its dictionaries take a moment)."""
    global _morph
    with _morph_lock:
        if _morph is None:
            _morph = pymorphy3.MorphAnalyzer()
        return _morph


@lru_cache(maxsize=65_536)
def normal_form(word: str) -> str:
    """A lower-case word's dictionary form: Russian through pymorphy3, any other language as it is."""
    if not CYRILLIC.search(word):
        return word
    # Parses sharing a dictionary form pool their likelihood, so "ямы" (2 of 5 parses "ям", 3 "яма") reads "яма".
    scores: dict[str, float] = {}
    for parse in _analyzer().parse(word):
        scores[parse.normal_form] = scores.get(parse.normal_form, 0.0) + parse.score
    best = max(scores, key=lambda form: scores[form]) if scores else word
    best = best.replace("ё", "е")
    return NORMAL_FORM_FIXES.get(best, best)


def words(text: str) -> list[str]:
    """The telling words of a text in dictionary form, stop words left out."""
    found = []
    for raw in WORD.findall(text.lower().replace("ё", "е")):
        if len(raw) < 2 or raw in STOP_WORDS:
            continue
        form = normal_form(raw)
        if form not in STOP_WORDS:
            found.append(form)
    return found


def address_key(address: str | None) -> str:
    """An address text normalised for comparison: lower case, dictionary forms, abbreviations spelled out, numbers kept.

    The kind of place ("улица", "дом") is left out, as residents write it or not at random.
    """
    if not address:
        return ""
    tokens: list[str] = []
    for raw in ADDRESS_TOKEN.findall(address.lower().replace("ё", "е")):
        if raw.isdigit() or not raw.isalpha():
            tokens.append(raw)
        elif len(raw) == 1:
            # A letter after a house number is part of it ("5 а" is "5а"); any other lone letter is noise.
            if tokens and tokens[-1].isdigit() and raw not in ADDRESS_ABBREVIATIONS:
                tokens[-1] += raw
            continue
        else:
            form = ADDRESS_ABBREVIATIONS.get(raw) or normal_form(raw)
            if form not in ADDRESS_GENERIC:
                tokens.append(form)
    return " ".join(tokens)


def _haversine_m(lat1: np.ndarray, lon1: np.ndarray, lat2: float, lon2: float) -> np.ndarray:
    """Great-circle distances in metres from points given in degrees to one point."""
    p1, p2 = np.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, np.radians(lon2 - lon1)
    a = np.sin(dp / 2) ** 2 + np.cos(p1) * math.cos(p2) * np.sin(dl / 2) ** 2
    result: np.ndarray = 2 * EARTH_RADIUS_M * np.arcsin(np.sqrt(np.clip(a, 0.0, 1.0)))
    return result


def _placed(sample: Sample) -> bool:
    lat, lon = sample.latitude, sample.longitude
    return (
        lat is not None
        and lon is not None
        and math.isfinite(lat)
        and math.isfinite(lon)
        and -90 <= lat <= 90
        and -180 <= lon <= 180
    )


def _similarity(vectors: Any, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Cosine similarity of the words of the pairs (rows[k], cols[k]); rows of `vectors` are unit length."""
    if not len(rows):
        return np.zeros(0)
    return np.asarray(vectors[rows].multiply(vectors[cols]).sum(axis=1)).ravel()


def _nearest(rows: np.ndarray, cols: np.ndarray, similarity: np.ndarray) -> np.ndarray:
    """The pairs alike in words, each report keeping only its `NEIGHBOURS` most alike (2 x k array).

    The cap keeps a crowded spot from costing memory by the square of its size; the graph stays connected.
    """
    keep = (similarity >= MIN_SIMILARITY) & (rows != cols)
    rows, cols, similarity = rows[keep], cols[keep], similarity[keep]
    if not len(rows) or np.unique(rows, return_counts=True)[1].max() <= NEIGHBOURS:
        return np.vstack([rows, cols])
    # By report, then most alike first (similarity is within [0, 1], so one sort key does both).
    order = np.argsort(2.0 * rows - similarity, kind="stable")
    rows, cols = rows[order], cols[order]
    first = np.searchsorted(rows, rows, side="left")
    rank = np.arange(len(rows)) - first
    return np.vstack([rows[rank < NEIGHBOURS], cols[rank < NEIGHBOURS]])


def _place_pairs(
    samples: Sequence[Sample], vectors: Any, placed: list[int], lats: np.ndarray, lons: np.ndarray, radius_m: float
) -> Iterator[np.ndarray]:
    """Pairs of reports with coordinates, of one category, within `radius_m` and alike in words (2 x k arrays)."""
    by_category: dict[int, list[int]] = {}
    for i in placed:
        by_category.setdefault(samples[i].category_id, []).append(i)
    reach = radius_m / EARTH_RADIUS_M
    for members in by_category.values():
        if len(members) < 2:
            continue
        index = np.asarray(members)
        points = np.radians(np.column_stack([lats[index], lons[index]]))
        tree = BallTree(points, metric="haversine")
        # Chunks of about PAIRS candidate pairs each, whatever the density.
        counts = np.cumsum(tree.query_radius(points, r=reach, count_only=True))
        bounds = np.unique(np.searchsorted(counts, np.arange(PAIRS, counts[-1], PAIRS), side="right"))
        for start, stop in zip([0, *bounds], [*bounds, len(members)], strict=True):
            if start == stop:
                continue
            found = tree.query_radius(points[start:stop], r=reach)
            rows = index[np.repeat(np.arange(start, stop), [len(f) for f in found])]
            cols = index[np.concatenate(found)]
            yield _nearest(rows, cols, _similarity(vectors, rows, cols))


def _address_pairs(samples: Sequence[Sample], vectors: Any, unplaced: list[int]) -> Iterator[np.ndarray]:
    """Pairs of reports without coordinates, of one category, at the same address and alike in words."""
    buckets: dict[tuple[str, int], list[int]] = {}
    for i in unplaced:
        key = address_key(samples[i].address)
        if key:
            buckets.setdefault((key, samples[i].category_id), []).append(i)
    few: list[np.ndarray] = []
    for members in buckets.values():
        if len(members) < 2:
            continue
        index = np.asarray(members)
        if len(members) <= NEIGHBOURS:
            # Too few to need the cap: their pairs are all compared in one go with those of other quiet addresses.
            first, second = np.triu_indices(len(members), k=1)
            few.append(np.vstack([index[first], index[second]]))
            continue
        block = vectors[index]
        step = max(1, PAIRS // len(members))
        for start in range(0, len(members), step):
            similarity = (block[start : start + step] @ block.T).toarray()
            local = np.arange(start, start + len(similarity))
            similarity[local - start, local] = -1.0
            # Each report's most alike neighbours at the address, found without sorting the rest.
            best = np.argpartition(-similarity, NEIGHBOURS - 1, axis=1)[:, :NEIGHBOURS]
            alike = np.take_along_axis(similarity, best, axis=1) >= MIN_SIMILARITY
            rows = np.broadcast_to(local[:, None], best.shape)[alike]
            yield np.vstack([index[rows], index[best[alike]]])
    if few:
        rows, cols = np.hstack(few)
        yield _nearest(rows, cols, _similarity(vectors, rows, cols))


def _hot_spots(members: np.ndarray, graph: Any, ids: np.ndarray, min_count: int) -> list[np.ndarray]:
    """A chained cluster split into groups around its densest reports, each within reach of its leader.

    Greedy: the report with most neighbours still free takes them all; repeat while a group would be big enough.
    """
    sub = graph[members][:, members].tocsr()
    free = np.ones(len(members), dtype=bool)
    # Most neighbours first; among equals the most recent report leads.
    heap = [(-int(sub.indptr[k + 1] - sub.indptr[k]), -int(ids[members[k]]), k) for k in range(len(members))]
    heapq.heapify(heap)
    groups: list[np.ndarray] = []
    while heap:
        degree, order, k = heapq.heappop(heap)
        if not free[k]:
            continue
        neighbours = sub.indices[sub.indptr[k] : sub.indptr[k + 1]]
        neighbours = neighbours[free[neighbours]]
        if len(neighbours) < -degree:
            # Neighbours were taken since it was queued: it waits its turn with what it has now.
            heapq.heappush(heap, (-len(neighbours), order, k))
            continue
        if len(neighbours) + 1 < min_count:
            break
        group = np.concatenate([[k], neighbours])
        free[group] = False
        groups.append(members[group])
    return groups


def _rows(vectors: Any, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Some rows of a CSR matrix as a dense block over just the columns they use, and those columns."""
    starts, ends = vectors.indptr[members], vectors.indptr[members + 1]
    lengths = ends - starts
    positions = np.concatenate([np.arange(a, b) for a, b in zip(starts, ends, strict=True)])
    columns, where = np.unique(vectors.indices[positions], return_inverse=True)
    block = np.zeros((len(members), len(columns)))
    block[np.repeat(np.arange(len(members)), lengths), where] = vectors.data[positions]
    return block, columns


def _label(block: np.ndarray, centroid: np.ndarray, words_of: np.ndarray) -> str:
    """The 2-4 words that weigh most in a group, preferring those most of its reports use."""
    used_by = (block > 0).sum(axis=0)
    order = [int(t) for t in np.argsort(-centroid, kind="stable") if centroid[t] > 0]
    common = max(2, math.ceil(block.shape[0] / 3))
    chosen = [t for t in order if used_by[t] >= common][:LABEL_WORDS]
    chosen += [t for t in order if t not in chosen][: max(0, 2 - len(chosen))]
    return ", ".join(str(words_of[t]) for t in chosen)


def _problem(
    samples: Sequence[Sample],
    members: np.ndarray,
    vectors: Any,
    vocabulary: np.ndarray,
    placed: bool,
    radius_m: float,
) -> Problem:
    group = [samples[i] for i in members]
    ids = np.array([s.id for s in group])
    block, columns = _rows(vectors, members)
    centroid = block.mean(axis=0)
    norm = float(np.linalg.norm(centroid))
    likeness = block @ centroid / norm if norm else np.zeros(len(group))
    # Distance from the centre in words (0 to 1) plus, when placed, in place measured in radii.
    score = 1.0 - likeness
    latitude = longitude = None
    if placed:
        lats = np.array([s.latitude for s in group], dtype=float)
        lons = np.array([s.longitude for s in group], dtype=float)
        latitude, longitude = float(lats.mean()), float(lons.mean())
        score = score + _haversine_m(lats, lons, latitude, longitude) / radius_m
    representative = int(ids[np.lexsort((-ids, score))[0]])
    # Most common address text; among equals the most recent report's.
    addresses = Counter(
        s.address.strip() for s in sorted(group, key=lambda s: -s.id) if s.address and s.address.strip()
    )
    return Problem(
        count=len(group),
        representative=representative,
        report_ids=tuple(sorted(int(i) for i in ids)),
        category_id=Counter(s.category_id for s in group).most_common(1)[0][0],
        label=_label(block, centroid, vocabulary[columns]),
        latitude=latitude,
        longitude=longitude,
        address=addresses.most_common(1)[0][0] if addresses else None,
    )


def find_problems(
    samples: Sequence[Sample], radius_m: float = 300.0, min_count: int = 3, limit: int = 10
) -> list[Problem]:
    """The key problems among reports: groups of at least `min_count` alike reports at one place, largest first.

    Among groups of one size the most recent (highest representative id) comes first. CPU-bound: from async code
    call `key_problems`.
    """
    if radius_m <= 0:
        raise ValueError("radius_m must be positive")
    min_count = max(1, min_count)
    if not samples or limit <= 0:
        return []
    texts = [words(s.description) for s in samples]
    if not any(texts):
        return []
    vectorizer = TfidfVectorizer(analyzer=lambda tokens: tokens, sublinear_tf=True)
    vectors = vectorizer.fit_transform(texts).tocsr()
    vocabulary = vectorizer.get_feature_names_out()

    placed = [i for i, s in enumerate(samples) if _placed(s)]
    is_placed = np.zeros(len(samples), dtype=bool)
    is_placed[placed] = True
    unplaced = [i for i in range(len(samples)) if not is_placed[i]]
    lats = np.array([s.latitude if is_placed[i] else 0.0 for i, s in enumerate(samples)], dtype=float)
    lons = np.array([s.longitude if is_placed[i] else 0.0 for i, s in enumerate(samples)], dtype=float)
    pairs = [
        *_place_pairs(samples, vectors, placed, lats, lons, radius_m),
        *_address_pairs(samples, vectors, unplaced),
    ]
    edges = np.hstack(pairs) if pairs else np.zeros((2, 0), dtype=np.intp)
    rows, cols = np.concatenate([edges[0], edges[1]]), np.concatenate([edges[1], edges[0]])
    graph = sparse.csr_matrix((np.ones(len(rows)), (rows, cols)), shape=(len(samples), len(samples)))
    # Every stored entry is a neighbour: distance 1 within eps 1 (a pair found from both ends summed to 2).
    graph.data[:] = 1.0
    labels = DBSCAN(eps=1.0, min_samples=min_count, metric="precomputed").fit(graph).labels_

    ids = np.array([s.id for s in samples])
    groups: list[np.ndarray] = []
    for cluster in np.unique(labels[labels >= 0]):
        members = np.flatnonzero(labels == cluster)
        if is_placed[members[0]]:
            spread = _haversine_m(lats[members], lons[members], lats[members].mean(), lons[members].mean())
            if spread.max() > radius_m:
                groups.extend(_hot_spots(members, graph, ids, min_count))
                continue
        groups.append(members)

    problems = [
        _problem(samples, members, vectors, vocabulary, bool(is_placed[members[0]]), radius_m)
        for members in groups
        if len(members) >= min_count
    ]
    problems.sort(key=lambda p: (-p.count, -p.representative))
    return problems[:limit]


async def key_problems(
    samples: Sequence[Sample], radius_m: float = 300.0, min_count: int = 3, limit: int = 10
) -> list[Problem]:
    """`find_problems` in a worker thread, so the event loop keeps serving while it computes."""
    return await asyncio.to_thread(find_problems, samples, radius_m, min_count, limit)


def map_url(latitude: float, longitude: float) -> str:
    """An OpenStreetMap link with a marker at the point."""
    lat, lon = f"{latitude:.6f}", f"{longitude:.6f}"
    return f"https://www.openstreetmap.org/?mlat={lat}&mlon={lon}#map=17/{lat}/{lon}"


def address_url(address: str) -> str:
    """An OpenStreetMap search for an address (a problem found by address text, without a point)."""
    return "https://www.openstreetmap.org/search?query=" + quote(address, safe="")
