"""Demo data: a city's reports with their whole history, generated from a seed (nothing is stored here).

`python -m bot demo-data` fills a database with them for a demonstration or the figures' benchmark. Every history
is built by `bot.core.lifecycle.change`, step by step, so it is one the bot itself could have recorded. The texts are
Russian, like the city they imitate; the people are synthetic ("Житель 123", officials with first names only).
"""

from __future__ import annotations

import bisect
import functools
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from bot.core.lifecycle import Actor, change, created
from bot.core.models import (
    Category,
    Dues,
    Event,
    EventKind,
    Location,
    Messenger,
    Report,
    ResidentRef,
    Status,
    Verdict,
)

CENTRE = (55.751, 37.618)
"""Where the demo city is (a Moscow-like centre)."""

CITY_KM = 10.0
SPOT_KM = 0.2
KM_PER_DEGREE = 111.2

# Reports per local hour of the day (relative): few at night, most in the morning and the evening.
HOUR_WEIGHTS = (
    0.15, 0.08, 0.05, 0.04, 0.05, 0.10, 0.30, 0.70, 1.10, 1.40, 1.50, 1.50,
    1.40, 1.35, 1.30, 1.30, 1.30, 1.35, 1.40, 1.50, 1.40, 1.10, 0.70, 0.35,
)  # fmt: skip
WEEKEND = 0.72
TREND = (0.7, 1.3)  # the rate at the start and at the end of the period: the service grows

TELEGRAM_SHARE = 0.7
WITH_POINT = 0.85
SPOT_SHARE = 0.12  # of the reports with a point, while a hot spot is active
SPOT_DAYS = (25.0, 60.0)
SPOTS_PER_DAYS = 8 / 42  # about eight hot spots active at a time (they last 42 days on average)
FREQUENT_ADDRESS = 0.2  # of the reports with an address only

CATEGORY_WEIGHTS = {"roads": 30, "housing": 25, "yards": 20, "transport": 9, "healthcare": 6, "other": 10}
OTHER_WEIGHT = 5

# The share of reports whose history goes each way (first round of work).
LATE_TAKE = 0.10
LATE_ANSWER = 0.15
LATE_RESOLVE = 0.20
ANSWER_AT_ONCE = 0.10  # answered without being taken first
REJECT = 0.09
STUCK = 0.03  # taken and answered, then never closed
DUPLICATE = 0.25  # of hot-spot reports, when an earlier one there is open
MOVED = 0.02
REASSIGNED = 0.04
SECOND_ANSWER = 0.10
FOLLOW_UP = 0.08
NOT_FIXED = 0.07
CONFIRM = 0.45
RATE_CONFIRMED = 0.8
RATE_SILENT = 0.3

STREETS = (
    "ул. Ленина", "ул. Гагарина", "Садовая ул.", "ул. Мира", "Центральная ул.", "ул. Пушкина", "Школьная ул.",
    "ул. Победы", "Молодёжная ул.", "Советская ул.", "Лесная ул.", "ул. Строителей", "Набережная ул.",
    "пр. Космонавтов", "ул. Чехова", "ул. Кирова", "Заводская ул.", "ул. Лермонтова", "Речной пер.", "Новая ул.",
)  # fmt: skip
STOPS = ("Парк культуры", "Площадь Победы", "Больница", "Рынок", "Школа № 5", "Вокзал", "Дом культуры")

DESCRIPTIONS: dict[str | None, tuple[str, ...]] = {
    "roads": (
        "Глубокая яма на дороге у дома {n}",
        "Разбит асфальт на проезжей части, машины объезжают по встречной",
        "Не работает светофор на перекрёстке у дома {n}",
        "Провал грунта у обочины возле дома {n}",
        "Стёрлась разметка на пешеходном переходе",
        "Сломан дорожный знак на углу улицы",
        "После дождя огромная лужа на всю дорогу у дома {n}",
        "Тротуар не чистят, пройти невозможно",
    ),
    "housing": (
        "Течёт крыша в подъезде {n}",
        "Нет горячей воды с утра",
        "Не работает лифт в подъезде {n}",
        "Протекает труба в подвале, сырость по всему дому",
        "Подъезд не убирают уже две недели",
        "Слабый напор холодной воды на верхних этажах",
        "Разбито окно на лестничной клетке",
        "Батареи еле тёплые, в квартире холодно",
    ),
    "yards": (
        "Не горит фонарь во дворе",
        "Переполнены мусорные баки у дома {n}",
        "Сломаны качели на детской площадке",
        "Упало дерево во дворе, перегородило проход",
        "Машины паркуются на газоне у дома {n}",
        "Не вывозят крупногабаритный мусор",
        "Разбита скамейка у подъезда",
        "Открытый люк во дворе дома {n}",
    ),
    "transport": (
        "Автобус № {n} не пришёл по расписанию",
        "Грязно в салоне автобуса маршрута № {n}",
        "Сломан навес на остановке",
        "Водитель автобуса № {n} проехал остановку",
        "Не работает табло прибытия на остановке",
        "Утром в автобусах маршрута № {n} не протолкнуться",
    ),
    "healthcare": (
        "Не дозвониться в регистратуру поликлиники",
        "Очередь к терапевту больше двух часов",
        "Нет записи к педиатру на ближайшие две недели",
        "Не работает лифт в поликлинике № {n}",
        "Грубость в регистратуре поликлиники № {n}",
    ),
    "other": (
        "Бродячие собаки у школы № {n}",
        "Ночью шумят на стройке",
        "Незаконная торговля у метро",
        "Граффити на фасаде дома {n}",
        "Не работает общественный туалет в парке",
    ),
    None: (
        "Прошу разобраться с проблемой у дома {n}",
        "Проблема так и не решена, прошу помочь",
        "Обращаюсь уже не первый раз, ничего не меняется",
    ),
}
SUFFIXES = ("", "", "", " Прошу срочно принять меры.", " Уже не первый раз.", " Жители просят помочь.", " Опасно!")

# Hot spots: one place, one problem, many residents writing about it ({street}, {house} are the spot's).
SPOT_TOPICS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("roads", (
        "Глубокая яма на дороге, {street}",
        "Пробил колесо в яме у дома {house}",
        "Ямы на {street} так и не заделали",
    )),
    ("yards", (
        "Не горит фонарь, {street}, очень темно",
        "Темно на {street}: фонари не работают",
        "Вечером у дома {house} ни одного фонаря",
    )),
    ("yards", (
        "Переполнена контейнерная площадка у дома {house}",
        "Мусор не вывозят, баки переполнены ({street})",
        "Вокруг мусорных баков у дома {house} горы мусора",
    )),
    ("housing", (
        "Не работает лифт в доме {house}",
        "Лифт в доме {house} опять стоит",
        "Пожилые не могут выйти: лифт в доме {house} сломан",
    )),
    ("housing", (
        "Прорвало трубу у дома {house}, вода на тротуаре",
        "Течёт вода из-под асфальта у дома {house}",
        "Затопило подвал в доме {house}",
    )),
    ("transport", (
        "Остановка «{stop}»: сломан навес",
        "На остановке «{stop}» нет расписания",
        "Разбито стекло павильона на остановке «{stop}»",
    )),
    ("roads", (
        "Не работает светофор на {street}",
        "Светофор у дома {house} мигает жёлтым",
        "Опасный переход на {street}: светофор не работает",
    )),
    ("other", (
        "Стая собак у школы на {street}",
        "Бродячие собаки у дома {house}, дети боятся",
        "Собаки бросаются на прохожих на {street}",
    )),
)  # fmt: skip

ANSWERS = (
    "Заявка принята и передана в обслуживающую организацию.",
    "Спасибо за обращение, специалисты выедут на место в ближайшие дни.",
    "Направили запрос подрядчику, о результате сообщим.",
    "Работы включены в план на эту неделю.",
)
PROGRESS = ("Работы начаты.", "Подрядчик приступил к работам.", "Ждём поставки материалов, сроки уточняем.")
RESOLUTIONS = (
    "Работы выполнены.",
    "Неисправность устранена.",
    "Проблема решена, спасибо за сигнал.",
    "Выполнен ремонт, проверьте, пожалуйста.",
)
REJECTIONS = (
    "Вопрос не относится к ведению администрации, обратитесь в управляющую компанию.",
    "Не удалось найти место по указанному адресу.",
    "Работы запланированы по городской программе на следующий год.",
    "Территория частная, обращение передано собственнику.",
)
FOLLOW_UPS = ("Проблема всё ещё есть.", "Добавляю: стало хуже.", "Когда будут работы?", "Соседи тоже жалуются.")
NOT_FIXED_TEXT = "Житель сообщает, что проблема не решена."
OFFICIAL_NAMES = (
    "Ольга", "Сергей", "Марина", "Андрей", "Наталья", "Дмитрий", "Елена", "Игорь", "Татьяна", "Алексей", "Ирина",
    "Павел",
)  # fmt: skip
# Cumulative weights of ratings 1..5: after a confirmed fix, with no verdict, after a second resolution.
RATINGS_CONFIRMED = (2, 5, 15, 45, 100)
RATINGS_SILENT = (15, 30, 55, 80, 100)
RATINGS_AGAIN = (25, 50, 75, 90, 100)

HOUR = timedelta(hours=1)
MINUTE = timedelta(minutes=1)
Step = tuple[datetime, EventKind, Actor, dict[str, Any]]


@dataclass(slots=True)
class _Spot:
    """A hot spot: a point, its problem, the days it is active, and its recent reports (for duplicates)."""

    latitude: float
    longitude: float
    category: Category
    texts: tuple[str, ...]
    begins: datetime
    ends: datetime
    # (number, filed at, first closed at or None) of its latest reports.
    recent: list[tuple[int, datetime, datetime | None]] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class _Terms:
    """A category's terms as durations (the demo's approximation of the working calendar)."""

    take: timedelta
    answer: timedelta
    resolve: timedelta

    def dues(self, start: datetime) -> Dues:
        return Dues(start, start + self.take, start + self.answer, start + self.resolve)


def generate(
    count: int, seed: int, start: datetime, days: int, categories: Sequence[Category], now: datetime
) -> Iterator[tuple[Report, list[Event]]]:
    """`count` reports filed over `days` from `start` (numbered 1.. in time order), each with its history up to `now`.

    The same arguments give the same reports. `start` must carry its time zone: the daily rhythm follows its local
    hours. Raises ValueError for no categories, a period of no days, or a `now` before the period's end.
    """
    for block in range(blocks(count)):
        yield from generate_block(count, seed, start, days, categories, now, block)


BLOCK = 10000
"""Reports are made in blocks of this many, each from its own random source: blocks can be made side by side."""


def blocks(count: int) -> int:
    """How many blocks `count` reports take."""
    return -(-count // BLOCK)


def generate_block(
    count: int, seed: int, start: datetime, days: int, categories: Sequence[Category], now: datetime, block: int
) -> Iterator[tuple[Report, list[Event]]]:
    """Block number `block` (from 0) of what `generate` gives with these arguments."""
    if not categories:
        raise ValueError("no categories to file reports in")
    if days <= 0 or count < 0:
        raise ValueError("the period must have days and the count must not be negative")
    if start.tzinfo is None:
        raise ValueError("start must carry its time zone")
    if now < start + timedelta(days=days):
        raise ValueError("now must not be before the end of the period")
    # Kept in UTC, as storage keeps times (the daily rhythm still follows `start`'s zone).
    city = _City(seed, start.astimezone(UTC), days, categories, start.tzinfo, count)
    city.rng = random.Random(f"demo:{seed}:block:{block}")
    first = block * BLOCK
    for number, at in enumerate(city.times(first, min(first + BLOCK, count)), start=first + 1):
        yield city.report(number, at, now)


class _City:
    """The generator's state: its random source, categories, officials, hot spots and the filing rhythm."""

    def __init__(
        self, seed: int, start: datetime, days: int, categories: Sequence[Category], tz: tzinfo, count: int
    ) -> None:
        self.seed = seed
        self.rng = rng = random.Random(f"demo:{seed}:city")
        self.start = start
        self.days = days
        self.tz = tz
        self.categories = list(categories)
        self.by_key = {c.builtin_key: c for c in self.categories}
        weights = [CATEGORY_WEIGHTS.get(c.builtin_key or "", OTHER_WEIGHT) for c in self.categories]
        self.category_cum = [sum(weights[: i + 1]) for i in range(len(weights))]
        self.terms = {
            c.id: _Terms(HOUR * c.take_hours, HOUR * c.answer_hours, timedelta(days=c.resolve_days * 1.4))
            for c in self.categories
        }
        self.officials: dict[int, list[Actor]] = {}
        for i, c in enumerate(self.categories):
            picks = [(i * 2 + k) % len(OFFICIAL_NAMES) for k in range(3)]
            self.officials[c.id] = [Actor(f"staff:tg:{7 + p}", OFFICIAL_NAMES[p]) for p in picks]
        self.pool = max(20, count * 3 // 5)
        self.spots = self._spots()
        self.active: list[list[_Spot]] = [
            [s for s in self.spots if s.begins < start + timedelta(days=d + 1) and s.ends > start + timedelta(days=d)]
            for d in range(days)
        ]
        self.addresses = [f"{rng.choice(STREETS)}, {rng.randint(1, 60)}" for _ in range(6)]
        self.per_hour = _per_hour(start, days, tz, count)

    def _spots(self) -> list[_Spot]:
        rng = self.rng
        spots = []
        for i in range(max(8, round(self.days * SPOTS_PER_DAYS))):
            key, texts = SPOT_TOPICS[i % len(SPOT_TOPICS)]
            category = self.by_key.get(key) or self.categories[i % len(self.categories)]
            street, house = rng.choice(STREETS), rng.randint(1, 80)
            filled = tuple(t.format(street=street, house=f"{street}, {house}", stop=rng.choice(STOPS)) for t in texts)
            length = min(float(self.days), rng.uniform(*SPOT_DAYS))
            # Some were active before the period or stay after it: every day has its hot spots, the last ones too.
            begins = self.start + timedelta(days=rng.uniform(-length / 2, self.days - length / 2))
            lat, lon = self._scatter(CITY_KM * 0.8)
            spots.append(_Spot(lat, lon, category, filled, begins, begins + timedelta(days=length)))
        return spots

    def times(self, first: int, end: int) -> Iterator[datetime]:
        """The filing times of reports `first` to `end` (excluded, from 0) in order."""
        before = 0
        for i, n in enumerate(self.per_hour):
            if before >= end:
                break
            if before + n > first:
                hour = random.Random(f"demo:{self.seed}:hour:{i}")
                offsets = sorted(hour.random() for _ in range(n))
                slot = self.start + i * HOUR
                for k in range(max(first - before, 0), min(end - before, n)):
                    yield slot + timedelta(seconds=round(offsets[k] * 3600, 6))
            before += n

    def _scatter(self, km: float, around: tuple[float, float] = CENTRE) -> tuple[float, float]:
        """A point at most `km` from `around` (denser near it)."""
        rng = self.rng
        r = km * rng.random() ** 0.8
        angle = rng.random() * 2 * math.pi
        lat = around[0] + r * math.sin(angle) / KM_PER_DEGREE
        lon = around[1] + r * math.cos(angle) / (KM_PER_DEGREE * math.cos(math.radians(around[0])))
        return round(lat, 6), round(lon, 6)

    def _category(self) -> Category:
        return self.categories[bisect.bisect(self.category_cum, self.rng.random() * self.category_cum[-1])]

    def _text(self, templates: Sequence[str]) -> str:
        rng = self.rng
        text = templates[int(rng.random() * len(templates))].format(n=rng.randint(1, 120))
        suffix = SUFFIXES[int(rng.random() * len(SUFFIXES))]
        return f"{text}.{suffix}" if suffix else text

    def report(self, number: int, at: datetime, now: datetime) -> tuple[Report, list[Event]]:
        """Report `number`, filed `at`, with its history up to `now`."""
        rng = self.rng
        resident = int(self.pool * rng.random() ** 1.5)
        messenger = Messenger.TELEGRAM if resident % 10 < TELEGRAM_SHARE * 10 else Messenger.VK
        spot = None
        if rng.random() < WITH_POINT:
            day = int((at - self.start) / timedelta(days=1))
            active = [s for s in self.active[min(day, self.days - 1)] if s.begins <= at < s.ends]
            if active and rng.random() < SPOT_SHARE:
                spot = active[int(rng.random() * len(active))]
                category = spot.category
                description = self._text(spot.texts)
                lat, lon = self._scatter(SPOT_KM, (spot.latitude, spot.longitude))
            else:
                category = self._category()
                description = self._text(DESCRIPTIONS.get(category.builtin_key, DESCRIPTIONS[None]))
                lat, lon = self._scatter(CITY_KM)
            location = Location(latitude=lat, longitude=lon)
        else:
            category = self._category()
            description = self._text(DESCRIPTIONS.get(category.builtin_key, DESCRIPTIONS[None]))
            if rng.random() < FREQUENT_ADDRESS:
                address = self.addresses[int(rng.random() * len(self.addresses))]
            else:
                address = f"{STREETS[int(rng.random() * len(STREETS))]}, {rng.randint(1, 120)}"
            location = Location(address=address)
        filed = Report(
            id=number,
            resident=ResidentRef(messenger, 100000 + resident),
            resident_name=f"Житель {resident}",
            category_id=category.id,
            description=description,
            location=location,
            photos=(),
            status=Status.NEW,
            created_at=at,
            dues=self.terms[category.id].dues(at),
        )
        plan, closed_at = self._plan(filed, category, spot)
        if spot is not None:
            spot.recent.append((number, at, closed_at))
            if len(spot.recent) > 64:
                del spot.recent[:32]
        return _apply(filed, plan, now)

    def _plan(self, report: Report, category: Category, spot: _Spot | None) -> tuple[list[Step], datetime | None]:
        """What will happen to the report (in time order), and when it is first closed (None: never)."""
        rng = self.rng
        t0 = report.created_at
        resident = Actor(report.resident.key)
        staff = self.officials[category.id]
        official = staff[int(rng.random() * len(staff))]
        plan: list[Step] = []
        if spot is not None and rng.random() < DUPLICATE:
            at = t0 + self.terms[category.id].take * (0.05 + 0.8 * rng.random())
            original = next(
                (n for n, filed, closed in spot.recent if filed < at and (closed is None or closed > at)), None
            )
            if original is not None:
                linked = {"text": f"#{original}", "duplicate_of": original}
                plan.append((at, EventKind.DUPLICATE_LINKED, official, linked))
                return self._with_follow_ups(plan, t0, resident), at
        not_before = t0
        if spot is None and len(self.categories) > 1 and rng.random() < MOVED:
            moved = self._category()
            if moved.id != category.id:
                not_before = t0 + self.terms[category.id].take * (0.05 + 0.4 * rng.random())
                fields = {"category_id": moved.id, "dues": self.terms[moved.id].dues(t0)}
                plan.append((not_before, EventKind.MOVED, official, fields))
                category = moved
                staff = self.officials[category.id]
                official = staff[int(rng.random() * len(staff))]
        at, resolved = self._round(plan, t0, not_before, self.terms[category.id], official, staff)
        closed_at = None if resolved is None else at
        if resolved:
            self._verdict(plan, at, resident, official, staff, self.terms[category.id], again=False)
        return self._with_follow_ups(plan, t0, resident), closed_at

    def _round(
        self,
        plan: list[Step],
        start: datetime,
        not_before: datetime,
        terms: _Terms,
        official: Actor,
        staff: list[Actor],
    ) -> tuple[datetime, bool | None]:
        """Officials take, answer and close the report whose terms started at `start`: when it closes, and whether it
        was resolved (True), rejected (False) or left open (None)."""
        rng = self.rng
        if rng.random() < LATE_TAKE:
            take = terms.take * (1.05 + rng.expovariate(1.5))
        else:
            take = terms.take * (0.03 + 0.9 * rng.random() ** 1.6)
        at = max(start + take, not_before + MINUTE)
        assignee = {"assignee": official.author, "assignee_name": official.name}
        if rng.random() < ANSWER_AT_ONCE:
            plan.append((at, EventKind.ANSWERED, official, {"text": _pick(rng, ANSWERS), **assignee}))
        else:
            plan.append((at, EventKind.TAKEN, official, assignee))
            if rng.random() < REASSIGNED:
                other = staff[int(rng.random() * len(staff))]
                if other != official:
                    at += HOUR * rng.uniform(0.2, 6)
                    fields = {"text": official.name, "assignee": other.author, "assignee_name": other.name}
                    plan.append((at, EventKind.REASSIGNED, other, fields))
                    official = other
            if rng.random() < LATE_ANSWER:
                answer = terms.answer * (1.05 + rng.expovariate(1.2))
            else:
                answer = terms.answer * (0.05 + 0.9 * rng.random())
            at = max(start + answer, at + MINUTE * rng.uniform(5, 90))
            if rng.random() < REJECT * 0.3:
                plan.append((at, EventKind.REJECTED, official, {"text": _pick(rng, REJECTIONS)}))
                return at, False
            plan.append((at, EventKind.ANSWERED, official, {"text": _pick(rng, ANSWERS)}))
        roll = rng.random()
        if roll < REJECT * 0.7:
            at += HOUR * rng.uniform(1, 48)
            plan.append((at, EventKind.REJECTED, official, {"text": _pick(rng, REJECTIONS)}))
            return at, False
        if roll < REJECT + STUCK:
            return at, None
        if rng.random() < SECOND_ANSWER:
            at += HOUR * rng.uniform(2, 72)
            plan.append((at, EventKind.ANSWERED, official, {"text": _pick(rng, PROGRESS)}))
        if rng.random() < LATE_RESOLVE:
            resolve = terms.resolve * (1.02 + rng.expovariate(2.0))
        else:
            resolve = terms.resolve * (0.05 + 0.9 * rng.random() ** 1.3)
        at = max(start + resolve, at + HOUR * rng.uniform(1, 12))
        resolved = {"text": _pick(rng, RESOLUTIONS), "verdict": None, "rating": None}
        plan.append((at, EventKind.RESOLVED, official, resolved))
        return at, True

    def _verdict(
        self,
        plan: list[Step],
        resolved_at: datetime,
        resident: Actor,
        official: Actor,
        staff: list[Actor],
        terms: _Terms,
        again: bool,
    ) -> None:
        """The resident's word on a resolution: confirmed (and rated), not fixed (reopened, worked on again), or
        just a rating, or silence."""
        rng = self.rng
        roll = rng.random()
        if not again and roll < NOT_FIXED:
            at = resolved_at + HOUR * rng.uniform(2, 72)
            restart = {
                "text": NOT_FIXED_TEXT,
                "verdict": Verdict.NOT_FIXED,
                "dues": terms.dues(at),
                "taken_at": None,
                "answered_at": None,
                "reminded": 0,
            }
            plan.append((at, EventKind.REOPENED, resident, restart))
            end, resolved = self._round(plan, at, at, terms, official, staff)
            if resolved:
                self._verdict(plan, end, resident, official, staff, terms, again=True)
            return
        if roll < NOT_FIXED + CONFIRM:
            at = resolved_at + HOUR * (0.1 + rng.expovariate(0.1))
            plan.append((at, EventKind.CONFIRMED, resident, {"verdict": Verdict.FIXED}))
            if rng.random() < RATE_CONFIRMED:
                self._rate(plan, at, resident, RATINGS_AGAIN if again else RATINGS_CONFIRMED)
        elif rng.random() < RATE_SILENT:
            self._rate(plan, resolved_at, resident, RATINGS_AGAIN if again else RATINGS_SILENT)

    def _rate(self, plan: list[Step], after: datetime, resident: Actor, cum_weights: Sequence[int]) -> None:
        rating = 1 + bisect.bisect(cum_weights, self.rng.random() * cum_weights[-1])
        at = after + MINUTE * (0.5 + self.rng.expovariate(0.05))
        plan.append((at, EventKind.RATED, resident, {"text": str(rating), "rating": rating}))

    def _with_follow_ups(self, plan: list[Step], t0: datetime, resident: Actor) -> list[Step]:
        """The plan with the resident's additions, if any, in their places in time."""
        if self.rng.random() >= FOLLOW_UP:
            return plan
        at = t0 + HOUR * self.rng.uniform(0.5, 72)
        plan.append((at, EventKind.FOLLOWED_UP, resident, {"text": _pick(self.rng, FOLLOW_UPS)}))
        plan.sort(key=lambda step: step[0])  # stable: the officials' steps keep their order
        return plan


@functools.lru_cache(maxsize=4)
def _per_hour(start: datetime, days: int, tz: tzinfo, count: int) -> tuple[int, ...]:
    """How many of `count` reports are filed in each hour of the period: the daily and weekly rhythm, and trend.

    Kept: every block of a period needs it.
    """
    hours = days * 24
    weights = []
    for i in range(hours):
        local = (start + i * HOUR).astimezone(tz)
        trend = TREND[0] + (TREND[1] - TREND[0]) * i / hours
        weights.append(HOUR_WEIGHTS[local.hour] * (WEEKEND if local.weekday() >= 5 else 1.0) * trend)
    # Reports filed by the end of each hour, rounded; the last hour ends with all of them.
    sums = list(itertools.accumulate(weights))
    marks = [round(count * w / sums[-1]) for w in sums[:-1]] + [count]
    counts = [b - a for a, b in itertools.pairwise([0, *marks])]
    return tuple(counts)


def _pick(rng: random.Random, texts: Sequence[str]) -> str:
    return texts[int(rng.random() * len(texts))]


def _apply(report: Report, plan: list[Step], now: datetime) -> tuple[Report, list[Event]]:
    """The report and its history once the plan's steps up to `now` happened, each through the lifecycle."""
    events = [created(report, Actor(report.resident.key))]
    for at, kind, actor, fields in plan:
        if at > now:
            break
        if kind is EventKind.FOLLOWED_UP:
            fields = {**fields, "follow_ups": report.follow_ups + 1}
        step = change(report, kind, actor, at, **fields)
        report = step.after
        events.extend(step.events)
    return report, events
