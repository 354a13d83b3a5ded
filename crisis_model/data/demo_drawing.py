"""The demo dataset's photos, drawn with PIL so that their content carries the label.

Cracked or collapsed buildings for damage (severity shown by how broken they are), people and a
red cross for rescue, people lying for affected individuals, charts, maps and notices for other
information, food, selfies and memes for the rest; rain, waves or dust for the event. A generic
scene (a landscape with trees) shows no category at all: its post's words must carry the label.
"""

import random

import numpy as np
from PIL import Image, ImageDraw, ImageFont

SIZE = 224  # image side, pixels


Box = tuple[int, int, int, int]  # x0, y0, x1, y1 in pixels


def draw_image(rng: random.Random, event: str, scene: str, damage: str) -> tuple[Image.Image, list[Box]]:
    """A SIZE x SIZE picture whose content shows `scene` (a raw humanitarian category, or
    "generic": a plain landscape that shows none), and the boxes where it drew damage."""
    image = Image.new("RGB", (SIZE, SIZE))
    draw = ImageDraw.Draw(image)
    boxes: list[Box] = []
    if scene == "not_humanitarian":
        rng.choice([_food, _selfie, _meme])(draw, rng)
    elif scene == "other_relevant_information":
        rng.choice([_chart, _map, _notice])(draw, rng)
    elif scene == "missing_or_found_people":
        _poster(draw, rng)
    else:  # an outdoor scene of the event
        ground = rng.randint(150, 185)
        _landscape(draw, rng, event, ground)
        if scene == "infrastructure_and_utility_damage":
            levels = {"little_or_no_damage": 0, "mild_damage": 1, "severe_damage": 2}
            level = levels.get(damage, rng.randrange(3))
            boxes = _buildings(draw, rng, ground, level)
        elif scene == "vehicle_damage":
            boxes = _wrecked_cars(draw, rng, ground)
        elif scene == "generic":
            _trees(draw, rng, ground)
        elif scene == "rescue_volunteering_or_donation_effort":
            _rescue(draw, rng, ground)
        else:  # affected_individuals, injured_or_dead_people
            _people_lying(draw, rng, ground, injured=scene == "injured_or_dead_people")
        _weather(draw, rng, event, ground)
    return image, boxes


def add_noise(image: Image.Image, noise: np.random.Generator) -> Image.Image:
    """Sensor-like noise and a random brightness shift."""
    pixels = np.asarray(image, dtype=np.float32) * noise.uniform(0.8, 1.15)
    pixels += noise.normal(0, noise.uniform(3, 10), pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def _color(rng: random.Random, low: int = 0, high: int = 255) -> tuple[int, int, int]:
    return (rng.randint(low, high), rng.randint(low, high), rng.randint(low, high))


def _jitter(rng: random.Random, color: tuple[int, int, int], amount: int = 20) -> tuple[int, int, int]:
    return tuple(max(0, min(255, c + rng.randint(-amount, amount))) for c in color)


def _landscape(draw: ImageDraw.ImageDraw, rng: random.Random, event: str, ground: int) -> None:
    """Sky, and ground below `ground`: the ground of the flood is water."""
    sky, soil = {
        "demo_hurricane": ((80, 90, 105), (95, 100, 90)),
        "demo_flood": ((165, 185, 205), (45, 95, 165)),
        "demo_earthquake": ((200, 205, 215), (150, 120, 85)),
    }[event]
    draw.rectangle([0, 0, SIZE, ground], fill=_jitter(rng, sky, 12))
    draw.rectangle([0, ground, SIZE, SIZE], fill=_jitter(rng, soil, 12))


def _weather(draw: ImageDraw.ImageDraw, rng: random.Random, event: str, ground: int) -> None:
    """Rain for the hurricane, waves for the flood, dust for the earthquake."""
    if event == "demo_hurricane":
        for _ in range(rng.randint(40, 90)):
            x, y = rng.randrange(SIZE), rng.randrange(SIZE)
            draw.line([x, y, x - 6, y + 14], fill=(190, 195, 210), width=1)
    elif event == "demo_flood":  # the ground of the flood is water: add waves
        for _ in range(rng.randint(10, 20)):
            x, y = rng.randrange(SIZE), rng.randint(ground, SIZE)
            draw.arc([x, y, x + 18, y + 6], 200, 340, fill=(120, 160, 210))
    else:
        for _ in range(rng.randint(30, 70)):
            x, y = rng.randrange(SIZE), rng.randint(ground - 60, SIZE)
            draw.ellipse([x, y, x + 3, y + 3], fill=(175, 150, 115))


def _buildings(draw: ImageDraw.ImageDraw, rng: random.Random, ground: int, level: int) -> list[Box]:
    """Gray buildings: intact (0), cracked with chunks missing (1), or collapsed into rubble (2);
    the boxes of the damaged ones."""
    boxes: list[Box] = []
    x = rng.randint(-10, 15)
    while x < SIZE - 20:
        width, height = rng.randint(35, 60), rng.randint(60, 130)
        shade = rng.randint(115, 185)
        gray = (shade, shade, shade + rng.randint(-10, 10))
        if level == 2:  # a low heap with a jagged top
            heap = [(x, ground)] + [
                (x + width * t / 6, ground - rng.randint(5, height // 3)) for t in range(7)
            ] + [(x + width, ground)]  # fmt: skip
            draw.polygon(heap, fill=gray, outline=(60, 60, 60))
            for _ in range(6):  # broken beams
                bx, by = x + rng.randrange(width), ground - rng.randrange(height // 3 + 1)
                end = (bx + rng.randint(-20, 20), by - rng.randint(5, 25))
                draw.line([(bx, by), end], fill=(70, 60, 50), width=3)
        else:
            top = ground - height
            draw.rectangle([x, top, x + width, ground], fill=gray, outline=(70, 70, 70))
            glass = (60, 75, 95) if level == 0 else (30, 30, 30)  # broken windows are dark
            for wy in range(top + 8, ground - 12, 16):
                for wx in range(x + 6, x + width - 10, 14):
                    draw.rectangle([wx, wy, wx + 7, wy + 8], fill=glass)
            for _ in range(level * rng.randint(3, 5)):  # cracks
                cx, cy = x + rng.randrange(width), top + rng.randrange(height)
                points = [(cx, cy)]
                for _ in range(4):
                    cx, cy = cx + rng.randint(-8, 8), cy + rng.randint(4, 14)
                    points.append((cx, cy))
                draw.line(points, fill=(25, 25, 25), width=2)
            if level == 1:  # a chunk of the roof gone
                left = x + rng.choice([0, width // 2])
                gap = [(left, top - 1), (left + width // 2, top - 1), (left + width // 4, top + 25)]
                draw.polygon(gap, fill=(180, 185, 195))
        for _ in range(level * 8):  # debris on the ground
            dx, dy = rng.randint(x - 10, x + width + 10), ground + rng.randint(-4, 20)
            piece = [dx, dy, dx + rng.randint(3, 9), dy + rng.randint(2, 6)]
            draw.rectangle(piece, fill=_jitter(rng, gray, 30))
        if level:
            top = ground - (height // 3 if level == 2 else height)
            boxes.append((max(x - 10, 0), max(top - 25, 0), min(x + width + 10, SIZE), min(ground + 20, SIZE)))
        x += width + rng.randint(2, 15)
    return boxes


def _wrecked_cars(draw: ImageDraw.ImageDraw, rng: random.Random, ground: int) -> list[Box]:
    """Cars on their roofs (wheels up) with smashed windows; their boxes."""
    boxes: list[Box] = []
    for _ in range(rng.randint(1, 3)):
        x, y = rng.randint(5, SIZE - 75), ground + rng.randint(-10, 25)
        draw.rectangle([x, y - 28, x + 70, y - 8], fill=_color(rng, 40, 220), outline=(30, 30, 30))
        draw.polygon([(x + 12, y - 8), (x + 58, y - 8), (x + 50, y + 6), (x + 20, y + 6)], fill=(40, 40, 45))
        for wheel in (x + 14, x + 56):
            draw.ellipse([wheel - 8, y - 44, wheel + 8, y - 28], fill=(20, 20, 20))
        draw.line([x + 25, y - 4, x + 35, y + 2, x + 30, y - 6], fill=(200, 200, 200), width=1)
        boxes.append((x, max(y - 44, 0), min(x + 70, SIZE), min(y + 6, SIZE)))
    return boxes


def _trees(draw: ImageDraw.ImageDraw, rng: random.Random, ground: int) -> None:
    """A few trees and bushes: a plain view that shows nothing of the crisis."""
    for _ in range(rng.randint(2, 6)):
        x, height = rng.randint(0, SIZE - 20), rng.randint(25, 70)
        draw.rectangle([x + 8, ground - height // 2, x + 12, ground], fill=(90, 65, 40))
        crown = _jitter(rng, (60, 120, 60), 30)
        draw.ellipse([x, ground - height, x + 20, ground - height // 2 + 5], fill=crown)


def _person(draw: ImageDraw.ImageDraw, rng: random.Random, x: int, y: int, lying: bool = False) -> None:
    """A figure with its feet at (x, y), standing or lying on the ground."""
    skin, clothes = _jitter(rng, (200, 160, 125), 40), _color(rng, 30, 230)
    if lying:
        draw.rectangle([x, y - 8, x + 26, y], fill=clothes)
        draw.ellipse([x + 26, y - 9, x + 35, y], fill=skin)
    else:
        draw.rectangle([x - 4, y - 24, x + 4, y - 8], fill=clothes)
        draw.line([x - 3, y - 8, x - 4, y], fill=(40, 40, 60), width=2)
        draw.line([x + 3, y - 8, x + 4, y], fill=(40, 40, 60), width=2)
        draw.ellipse([x - 5, y - 34, x + 5, y - 24], fill=skin)


def _red_cross(draw: ImageDraw.ImageDraw, x: int, y: int, size: int) -> None:
    draw.rectangle([x, y, x + size, y + size], fill=(245, 245, 245))
    third = size // 3
    draw.rectangle([x + third, y + 3, x + 2 * third, y + size - 3], fill=(210, 20, 30))
    draw.rectangle([x + 3, y + third, x + size - 3, y + 2 * third], fill=(210, 20, 30))


def _rescue(draw: ImageDraw.ImageDraw, rng: random.Random, ground: int) -> None:
    """A relief tent or truck with a red cross, supply boxes, and volunteers standing."""
    x = rng.randint(5, 110)
    draw.rectangle([x, ground - 60, x + 100, ground], fill=(235, 235, 230), outline=(90, 90, 90))
    _red_cross(draw, x + 35, ground - 50, 30)
    for _ in range(rng.randint(2, 5)):
        bx, by = rng.randint(0, SIZE - 25), ground + rng.randint(0, 30)
        draw.rectangle([bx, by, bx + 22, by + 16], fill=(170, 125, 75), outline=(100, 70, 40))
        draw.line([bx + 11, by, bx + 11, by + 16], fill=(210, 190, 150), width=2)
    for _ in range(rng.randint(3, 7)):
        _person(draw, rng, rng.randint(8, SIZE - 8), ground + rng.randint(5, 35))


def _people_lying(draw: ImageDraw.ImageDraw, rng: random.Random, ground: int, injured: bool) -> None:
    """Tents and people lying on the ground; red stains when they are hurt."""
    for _ in range(rng.randint(1, 3)):
        tx = rng.randint(0, SIZE - 60)
        tent = [(tx, ground), (tx + 30, ground - 40), (tx + 60, ground)]
        draw.polygon(tent, fill=_jitter(rng, (40, 90, 170), 40))
    for _ in range(rng.randint(2, 5)):
        x, y = rng.randint(0, SIZE - 40), ground + rng.randint(10, 45)
        _person(draw, rng, x, y, lying=True)
        if injured:
            draw.ellipse([x + 8, y - 6, x + 20, y + 3], fill=(170, 15, 20))


def _poster(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    """A MISSING / FOUND notice with a face photo and lines of text."""
    draw.rectangle([0, 0, SIZE, SIZE], fill=_color(rng, 60, 120))
    draw.rectangle([20, 10, SIZE - 20, SIZE - 10], fill=(250, 245, 225))
    title = rng.choice(["MISSING", "FOUND"])
    draw.text((45, 16), title, fill=(200, 0, 0), font=ImageFont.load_default(size=30))
    draw.rectangle([70, 55, 154, 145], fill=(180, 200, 220))
    draw.ellipse([92, 68, 132, 112], fill=_jitter(rng, (200, 160, 125), 40))
    draw.rectangle([88, 112, 136, 145], fill=_color(rng, 30, 200))
    for y in range(155, SIZE - 20, 12):
        draw.rectangle([35, y, rng.randint(110, SIZE - 35), y + 5], fill=(60, 60, 60))


def _chart(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    draw.rectangle([0, 0, SIZE, SIZE], fill=(250, 250, 250))
    draw.line([(25, 20), (25, 195), (210, 195)], fill=(0, 0, 0), width=2)
    if rng.random() < 0.5:
        color = _color(rng, 20, 200)
        for i in range(rng.randint(4, 9)):
            height = rng.randint(15, 165)
            draw.rectangle([32 + i * 20, 195 - height, 46 + i * 20, 194], fill=color)
    else:
        points = [(25 + i * 18, rng.randint(30, 190)) for i in range(11)]
        draw.line(points, fill=_color(rng, 0, 200), width=3)
    draw.rectangle([40, 5, rng.randint(100, 200), 13], fill=(80, 80, 80))


def _map(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    """Sea, land, and a red storm track or affected-area dots."""
    draw.rectangle([0, 0, SIZE, SIZE], fill=(170, 205, 235))
    for _ in range(rng.randint(2, 4)):
        cx, cy, r = rng.randrange(SIZE), rng.randrange(SIZE), rng.randint(30, 80)
        coast = []
        for angle in np.linspace(0, 2 * np.pi, 14):
            reach = r * rng.uniform(0.6, 1.2)
            coast.append((cx + reach * np.cos(angle), cy + reach * np.sin(angle)))
        draw.polygon(coast, fill=_jitter(rng, (150, 190, 120), 25), outline=(90, 90, 90))
    track = [(rng.randrange(SIZE), rng.randrange(SIZE)) for _ in range(4)]
    draw.line(track, fill=(220, 30, 30), width=3)
    for x, y in track:
        draw.ellipse([x - 5, y - 5, x + 5, y + 5], fill=(220, 30, 30))


def _notice(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    """An official notice: a coloured header and lines of text."""
    draw.rectangle([0, 0, SIZE, SIZE], fill=(245, 245, 240))
    draw.rectangle([0, 0, SIZE, 45], fill=rng.choice([(200, 40, 40), (230, 150, 20), (30, 80, 160)]))
    title = rng.choice(["ALERT", "NOTICE", "UPDATE", "SHELTERS"])
    draw.text((12, 8), title, fill=(255, 255, 255), font=ImageFont.load_default(size=26))
    for y in range(60, SIZE - 10, 14):
        draw.rectangle([12, y, rng.randint(80, SIZE - 12), y + 6], fill=(90, 90, 90))


def _food(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    """A plate of food on a table."""
    draw.rectangle([0, 0, SIZE, SIZE], fill=_jitter(rng, (150, 100, 60), 30))
    cx, cy, r = SIZE // 2 + rng.randint(-20, 20), SIZE // 2 + rng.randint(-20, 20), rng.randint(70, 95)
    draw.ellipse([cx - r, cy - r, cx + r, cy + r], fill=(250, 250, 245), outline=(200, 200, 200))
    for _ in range(rng.randint(4, 10)):
        fx, fy, fr = cx + rng.randint(-45, 45), cy + rng.randint(-45, 45), rng.randint(8, 22)
        food = rng.choice([(230, 180, 40), (200, 60, 30), (90, 160, 60), (240, 220, 170)])
        draw.ellipse([fx - fr, fy - fr, fx + fr, fy + fr], fill=food)


def _selfie(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    """A big smiling face in front of a bright background."""
    draw.rectangle([0, 0, SIZE, SIZE], fill=_color(rng, 120, 255))
    cx, cy = SIZE // 2 + rng.randint(-25, 25), SIZE // 2 + rng.randint(-10, 20)
    draw.ellipse([cx - 75, cy - 95, cx + 75, cy + 40], fill=_color(rng, 10, 120))  # hair
    draw.ellipse([cx - 60, cy - 75, cx + 60, cy + 75], fill=_jitter(rng, (205, 165, 130), 45))
    for ex in (cx - 25, cx + 25):
        draw.ellipse([ex - 7, cy - 20, ex + 7, cy - 8], fill=(40, 30, 30))
    draw.arc([cx - 30, cy + 5, cx + 30, cy + 45], 20, 160, fill=(150, 40, 50), width=4)


def _meme(draw: ImageDraw.ImageDraw, rng: random.Random) -> None:
    """A picture of coloured blobs with white caption bars of big text."""
    draw.rectangle([0, 0, SIZE, SIZE], fill=_color(rng))
    for _ in range(6):
        x, y, r = rng.randrange(SIZE), rng.randrange(SIZE), rng.randint(15, 50)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=_color(rng))
    font = ImageFont.load_default(size=22)
    captions = rng.choice(["WHEN YOU", "ME AT 3AM", "NOBODY:"]), rng.choice(["LOL", "EVERY TIME", "BE LIKE"])
    for top, caption in zip((0, SIZE - 36), captions):
        draw.rectangle([0, top, SIZE, top + 36], fill=(255, 255, 255))
        draw.text((10, top + 6), caption, fill=(0, 0, 0), font=font)
