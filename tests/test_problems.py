"""Key problems: hot spots of alike reports found among scattered ones, as `/problems` would list them."""

from __future__ import annotations

import math
import random

import pytest

from bot.figures.problems import (
    Problem,
    Sample,
    address_key,
    find_problems,
    key_problems,
    map_url,
    normal_form,
    words,
)

CENTRE = (55.7558, 37.6173)  # Moscow, by the Kremlin
ROADS, LIGHTS, GARBAGE, YARDS = 1, 2, 3, 4


def shifted(north_m: float, east_m: float, origin: tuple[float, float] = CENTRE) -> tuple[float, float]:
    """A point some metres north and east of another."""
    lat, lon = origin
    return lat + north_m / 111_320, lon + east_m / (111_320 * math.cos(math.radians(lat)))


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    p1, p2 = math.radians(a[0]), math.radians(b[0])
    h = math.sin((p2 - p1) / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(math.radians(b[1] - a[1]) / 2) ** 2
    return 2 * 6_371_000 * math.asin(math.sqrt(h))


def placed(report_id: int, category: int, text: str, point: tuple[float, float], address: str | None = None) -> Sample:
    return Sample(report_id, category, text, point[0], point[1], address)


def unplaced(report_id: int, category: int, text: str, address: str | None) -> Sample:
    return Sample(report_id, category, text, None, None, address)


POTHOLES = [
    "Яма на дороге",
    "Глубокие ямы на проезжей части, машины бьют колёса",
    "Огромная яма посреди дороги",
    "Ямы на дороге у светофора",
    "Снова яма, асфальт провалился",
    "Глубокая яма, не объехать",
    "Здравствуйте! На дороге яма уже месяц",
    "В асфальте яма, прошу заделать",
]
DARK = [
    "Не горит фонарь",
    "Фонари не работают, на улице темно",
    "Не горят фонари вдоль дома",
    "Темно, фонарь не горит вторую неделю",
    "Фонарь во дворе не работает",
    "Сломан фонарь, вечером ничего не видно",
]
NOISE = [
    "Сломана лавочка в сквере",
    "Не вывозят мусор",
    "Протекает крыша",
    "Нет горячей воды",
    "Собаки без поводка на площадке",
    "Шумят соседи ночью",
    "Упало дерево",
    "Сосульки на крыше",
    "Не убран снег",
    "Разбит тротуар",
    "Нет отопления",
    "Сломаны качели",
    "Открыт люк",
    "Граффити на стене",
    "Брошенная машина",
    "Переполнена урна",
    "Не работает лифт",
    "Засорилась канализация",
    "Сухостой у школы",
    "Газон разъезжен машинами",
    "Незаконная торговля",
    "Не работает светофор",
    "Течёт труба в подвале",
    "Крысы у подъезда",
    "Сломан забор",
    "Яма на дороге",  # a pothole far from the others is no hot spot
    "Не горит фонарь",  # nor a dark lamp on its own
    "Глубокая яма",
    "Разбитая остановка",
    "Парковка на газоне",
]
LIGHTS_AT = shifted(2_000, 0)


def city() -> list[Sample]:
    """Eight potholes within 150 m of the centre, six dark lamps 2 km north, and thirty scattered reports."""
    rng = random.Random(15)
    samples = []
    for k, text in enumerate(POTHOLES):
        angle = rng.uniform(0, 2 * math.pi)
        r = rng.uniform(0, 150)
        samples.append(placed(100 + k, ROADS, text, shifted(r * math.sin(angle), r * math.cos(angle))))
    for k, text in enumerate(DARK):
        samples.append(
            placed(200 + k, LIGHTS, text, shifted(rng.uniform(-100, 100), rng.uniform(-100, 100), LIGHTS_AT))
        )
    for k, text in enumerate(NOISE):
        # On a ring 3-5 km out and a spread of bearings, so no two stray reports meet by chance.
        angle, r = 2 * math.pi * k / len(NOISE), 3_000 + 2_000 * (k % 2)
        category = ROADS if "яма" in text.lower() else LIGHTS if "фонарь" in text.lower() else 5 + k % 5
        samples.append(placed(300 + k, category, text, shifted(r * math.sin(angle), r * math.cos(angle))))
    rng.shuffle(samples)
    return samples


def test_city_words_come_out_in_dictionary_form() -> None:
    assert [normal_form(w) for w in ("ямы", "ям", "фонари", "подъезде", "дороге", "света")] == [
        "яма",
        "яма",
        "фонарь",
        "подъезд",
        "дорога",
        "свет",
    ]
    assert words("Здравствуйте! Не горят Фонари у ПОДЪЕЗДА, street lights are broken") == [
        "гореть",
        "фонарь",
        "подъезд",
        "street",
        "lights",
        "broken",
    ]


def test_the_two_hot_spots_are_found_largest_first() -> None:
    problems = find_problems(city())

    assert [p.count for p in problems] == [8, 6]
    potholes, dark = problems
    assert set(potholes.report_ids) == set(range(100, 108))
    assert set(dark.report_ids) == set(range(200, 206))
    assert (potholes.category_id, dark.category_id) == (ROADS, LIGHTS)
    assert "яма" in potholes.label.split(", ")
    assert "фонарь" in dark.label.split(", ")
    assert 2 <= len(potholes.label.split(", ")) <= 4
    assert 2 <= len(dark.label.split(", ")) <= 4
    for problem, spot, reach in ((potholes, CENTRE, 150), (dark, LIGHTS_AT, 150)):
        assert problem.representative in problem.report_ids
        assert problem.latitude is not None and problem.longitude is not None
        assert distance_m((problem.latitude, problem.longitude), spot) < reach
        url = map_url(problem.latitude, problem.longitude)
        assert f"mlat={problem.latitude:.6f}" in url and f"mlon={problem.longitude:.6f}" in url
        assert url.startswith("https://www.openstreetmap.org/")


async def test_the_async_call_finds_the_same() -> None:
    samples = city()
    assert await key_problems(samples) == find_problems(samples)


def test_the_representative_is_the_report_nearest_the_centre_in_place_and_words() -> None:
    texts = ["яма на дороге", "яма на дороге", "яма на дороге", "яма на дороге, асфальт разбит и бордюр"]
    points = [shifted(60, 0), shifted(0, 0), shifted(-60, 0), shifted(0, 0)]
    problems = find_problems([placed(k + 1, ROADS, t, p) for k, (t, p) in enumerate(zip(texts, points, strict=True))])

    # Reports 2 and 4 stand at the centre, but report 4 says more than the group's usual words.
    assert [p.representative for p in problems] == [2]


def test_same_place_but_another_category_or_other_words_are_other_problems() -> None:
    here = [shifted(10 * k, -10 * k) for k in range(5)]
    samples = [placed(k, ROADS, "яма на дороге", here[k]) for k in range(5)]
    samples += [placed(10 + k, GARBAGE, "яма на дороге", here[k]) for k in range(4)]
    samples += [placed(20 + k, ROADS, "сломана лавочка", here[k]) for k in range(3)]

    problems = find_problems(samples)

    assert [(p.count, p.category_id, set(p.report_ids)) for p in problems] == [
        (5, ROADS, set(range(5))),
        (4, GARBAGE, set(range(10, 14))),
        (3, ROADS, set(range(20, 23))),
    ]
    assert "лавочка" in problems[2].label


def test_reports_without_coordinates_join_by_address_text_and_words() -> None:
    samples = [
        unplaced(1, GARBAGE, "Мусор не вывозят", "ул. Ленина, 5"),
        unplaced(2, GARBAGE, "Мусорные баки переполнены, мусор на земле", "улица Ленина 5"),
        unplaced(3, GARBAGE, "Неделю не вывозят мусор", "Ленина, д. 5"),
        unplaced(4, GARBAGE, "Мусор во дворе", "ул. Ленина, 5"),
        unplaced(5, GARBAGE, "Мусор не вывозят", "ул. Ленина, 7"),  # another house
        unplaced(6, GARBAGE, "Мусор не вывозят", "ул. Ленина, 7"),
        unplaced(7, YARDS, "Сломаны качели", "ул. Ленина, 5"),  # same house, another thing
        unplaced(8, GARBAGE, "Мусор не вывозят", None),
    ]

    problems = find_problems(samples)

    assert len(problems) == 1
    (problem,) = problems
    assert problem.report_ids == (1, 2, 3, 4)
    assert problem.address == "ул. Ленина, 5"
    assert (problem.latitude, problem.longitude) == (None, None)
    assert "мусор" in problem.label
    assert problem.representative in problem.report_ids


def test_address_text_is_compared_normalised_with_the_house_number_kept() -> None:
    assert address_key("ул. Ленина, 5") == address_key("улица Ленина 5") == address_key("Ленина, д. 5")
    assert address_key("ул. Ленина, 5а") == address_key("Ленина 5 а")
    assert address_key("ул. Ленина, 5") != address_key("ул. Ленина, 7")
    assert address_key("пр-т Мира, 12") == address_key("проспект Мира 12")


def test_a_long_chain_of_alike_reports_is_split_into_places() -> None:
    # A pothole every 100 m along a 3 km road: no single place, but hot spots along it, each within the radius.
    line = [placed(k, ROADS, "яма на дороге", shifted(100 * k, 0)) for k in range(31)]

    problems = find_problems(line, radius_m=300, limit=100)

    assert len(problems) > 1
    for problem in problems:
        assert problem.latitude is not None and problem.longitude is not None
        for report_id in problem.report_ids:
            assert distance_m((problem.latitude, problem.longitude), shifted(100 * report_id, 0)) <= 300
    taken = [i for p in problems for i in p.report_ids]
    assert len(taken) == len(set(taken))


def test_small_groups_are_dropped_and_the_limit_and_ties_are_kept() -> None:
    spots = [shifted(0, 2_000 * k) for k in range(4)]
    samples = [placed(10 * k + j, ROADS, "яма на дороге", spots[k]) for k in range(4) for j in range(3)]
    samples.append(placed(100, LIGHTS, "не горит фонарь", spots[0]))
    samples.append(placed(101, LIGHTS, "не горит фонарь", spots[0]))

    problems = find_problems(samples, limit=3)

    # Four groups of three tie: the most recent first, and only three of them; the pair of lamps is too few.
    assert [p.report_ids for p in problems] == [(30, 31, 32), (20, 21, 22), (10, 11, 12)]
    assert [p.report_ids for p in find_problems(samples, min_count=2, limit=10)][-1] == (100, 101)


def test_no_reports_no_problems() -> None:
    assert find_problems([]) == []
    assert find_problems([unplaced(1, ROADS, "яма", None), placed(2, ROADS, "", CENTRE)]) == []


async def test_no_reports_no_problems_async() -> None:
    assert await key_problems([]) == []


def test_a_bad_radius_is_refused() -> None:
    with pytest.raises(ValueError):
        find_problems(city(), radius_m=0)


def test_twenty_thousand_random_reports_are_handled() -> None:
    rng = random.Random(20_000)
    vocabulary = ("яма", "дорога", "фонарь", "свет", "мусор", "свалка", "двор", "подъезд", "крыша", "лифт", "снег")
    samples = []
    for k in range(20_000):
        text = " ".join(rng.choices(vocabulary, k=rng.randint(2, 6)))
        if k % 4:
            point = shifted(rng.uniform(-8_000, 8_000), rng.uniform(-8_000, 8_000))
            samples.append(placed(k, rng.randrange(8), text, point))
        else:
            samples.append(unplaced(k, rng.randrange(8), text, f"ул. Ленина, {rng.randrange(200)}"))

    problems = find_problems(samples, limit=20)

    assert 0 < len(problems) <= 20
    assert all(isinstance(p, Problem) and p.count >= 3 for p in problems)
    assert [p.count for p in problems] == sorted((p.count for p in problems), reverse=True)
    assert all(p.representative in p.report_ids and len(p.report_ids) == p.count for p in problems)


def test_a_crowded_spot_stays_one_problem() -> None:
    # More alike reports at one place than a report keeps neighbours: still one problem each, by place and by address.
    rng = random.Random(7)
    garbage = ["мусор не вывозят", "переполнены мусорные баки", "мусор во дворе", "свалка мусора у баков"]
    swings = ["сломаны качели", "качели на площадке сломаны", "сломана горка и качели"]
    samples = [
        placed(k, ROADS, rng.choice(POTHOLES), shifted(rng.uniform(-70, 70), rng.uniform(-70, 70))) for k in range(150)
    ]
    samples += [unplaced(1_000 + k, GARBAGE, rng.choice(garbage), "ул. Ленина, 5") for k in range(120)]
    samples += [unplaced(2_000 + k, GARBAGE, rng.choice(swings), "улица Ленина 5") for k in range(90)]

    problems = find_problems(samples)

    assert [(p.count, p.report_ids[0]) for p in problems] == [(150, 0), (120, 1_000), (90, 2_000)]
    assert "яма" in problems[0].label and "мусор" in problems[1].label and "качели" in problems[2].label


def test_an_address_links_to_a_map_search() -> None:
    from bot.figures.problems import address_url

    assert address_url("ул. Ленина, 5") == (
        "https://www.openstreetmap.org/search?query=%D1%83%D0%BB.%20%D0%9B%D0%B5%D0%BD%D0%B8%D0%BD%D0%B0%2C%205"
    )
